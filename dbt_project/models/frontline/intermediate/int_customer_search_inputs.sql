{#-
    Everything customer_search reads about a customer, fingerprinted: the golden record's
    inputs (every version of each of its source records, int_golden_record_inputs) and the
    source customer numbers the identity map gives it (a number seen only in facts has no
    record). A customer whose fingerprint is the one customer_search's last build saw
    (int_customer_search_inputs_of_last_build) has the search keys it had then.
-#}
with

source_ids as (
    select
        customer_key,
        {{ cif.hash_of_group(cif.row_hash(["source_system", "source_customer_id"])) }} as ids_hash
    from {{ source('core', 'customer_identity_map') }}
    group by customer_key
)

select
    inputs.customer_key,
    {{ dbt.safe_cast(
        cif.row_hash(["inputs.inputs_hash", "source_ids.ids_hash"]),
        api.Column.translate_type("string"),
    ) }} as inputs_hash
from {{ ref('int_golden_record_inputs') }} as inputs
left join source_ids on inputs.customer_key = source_ids.customer_key
