{#- customer_search's inputs as this build saw them, for the next night to compare with:
    rebuilt after customer_search has read the last build's copy. -#}
-- depends_on: {{ ref('customer_search') }}
select
    customer_key,
    inputs_hash
from {{ ref('int_customer_search_inputs') }}
