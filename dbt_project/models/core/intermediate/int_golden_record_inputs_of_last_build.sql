{#- The golden record's inputs as this build saw them, for the next night to compare with:
    rebuilt after dim_customer has read the last build's copy. -#}
-- depends_on: {{ ref('dim_customer') }}
select
    customer_key,
    inputs_hash
from {{ ref('int_golden_record_inputs') }}
