{#- The fingerprints of the segment history's inputs as this build saw them, for the next
    night to compare with: rebuilt after int_segment_recompute_from has read the last build's. -#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
select
    input_date,
    input_kind,
    input_rows,
    inputs_hash
from {{ ref('int_segment_inputs') }}
