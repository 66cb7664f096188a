{#-
    Everything dim_customer reads about a customer, fingerprinted: its first sight, and every
    version of each of its source records (every column of int_customer_records_unioned, and
    the source's trust rank). A customer whose fingerprint is the one the last build saw
    (int_golden_record_inputs_of_last_build) has the versions in dim_customer it had then, so
    an incremental night rebuilds only the others.
-#}
{%- set record_columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(ref("int_customer_records_unioned")) -%}
        {%- do record_columns.append("records." ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
{%- endif -%}
with

identity_map as (
    select * from {{ source('core', 'customer_identity_map') }}
),

record_hashes as (
    select
        identity_map.customer_key,
        {{ cif.row_hash(record_columns + [cif.source_trust_rank("records.source_system")]) }} as record_hash
    from {{ ref('int_customer_records_unioned') }} as records
    inner join identity_map
        on
            records.source_system = identity_map.source_system
            and records.source_customer_id = identity_map.source_customer_id
),

first_seen as (
    select
        customer_key,
        min(first_seen_at) as first_seen_at
    from identity_map
    group by customer_key
),

records_per_customer as (
    select
        customer_key,
        {{ cif.hash_of_group("record_hash") }} as records_hash
    from record_hashes
    group by customer_key
)

select
    first_seen.customer_key,
    {{ dbt.safe_cast(
        cif.row_hash(["first_seen.first_seen_at", "records_per_customer.records_hash"]),
        api.Column.translate_type("string"),
    ) }} as inputs_hash
from first_seen
left join records_per_customer on first_seen.customer_key = records_per_customer.customer_key
