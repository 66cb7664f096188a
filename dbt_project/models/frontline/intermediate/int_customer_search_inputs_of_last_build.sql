{#- customer_search's inputs as this build saw them, for the next night to compare with:
    rebuilt after customer_search and customer_name_words have read the last build's copy. -#}
-- depends_on: {{ ref('customer_search') }}
-- depends_on: {{ ref('customer_name_words') }}
select
    customer_key,
    inputs_hash
from {{ ref('int_customer_search_inputs') }}
