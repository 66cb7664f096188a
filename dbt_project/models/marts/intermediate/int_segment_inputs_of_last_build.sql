{#- The segment history's inputs as this build saw them, for the next night to compare with:
    rebuilt after int_segment_recompute_from has read the last build's copy. -#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
select
    customer_key,
    input_date,
    input_kind,
    detail,
    amount,
    facts
from {{ ref('int_segment_inputs') }}
