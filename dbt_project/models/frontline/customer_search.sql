{#-
    What the frontline finds a customer by: every name, e-mail, phone, national id and source
    customer number any source ever sent for one of the customer's records (not only the golden
    record: a caller gives the e-mail they know), normalised the way `cif customer find`
    normalises a query, one row per (kind, value, customer). Sorted by kind and value, so an
    exact lookup reads only the row groups whose min/max hold the value. Personal data: this
    schema is never exported.
-#}
with

records as (
    select
        identity_map.customer_key,
        records.source_system,
        records.source_customer_id,
        records.first_name,
        records.last_name,
        records.email,
        records.phone,
        records.national_id
    from {{ ref('int_customer_records_unioned') }} as records
    inner join {{ source('core', 'customer_identity_map') }} as identity_map
        on
            records.source_system = identity_map.source_system
            and records.source_customer_id = identity_map.source_customer_id
),

keys as (
    select
        customer_key,
        'name' as kind,
        lower(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))) as search_value
    from records
    where last_name is not null
    union all
    select
        customer_key,
        'email' as kind,
        lower(trim(email)) as search_value
    from records
    union all
    select
        customer_key,
        'phone' as kind,
        right({{ cif.digits_only('phone') }}, 10) as search_value
    from records
    union all
    select
        customer_key,
        'national_id' as kind,
        upper({{ cif.strip_non_alnum('national_id') }}) as search_value
    from records
    union all
    select
        customer_key,
        'source_id' as kind,
        lower(trim(source_customer_id)) as search_value
    from {{ source('core', 'customer_identity_map') }}
)

select distinct
    kind,
    search_value,
    customer_key
from keys
where search_value is not null and search_value <> ''
order by kind, search_value
