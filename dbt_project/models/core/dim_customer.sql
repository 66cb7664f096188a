{%- set attributes = [
    'first_name', 'last_name', 'date_of_birth', 'email', 'phone', 'national_id',
    'address_line', 'city', 'postcode', 'country',
] -%}
{%- set window = ("customer_key", "updated_at, source_rank, source_system, source_customer_id") -%}
{%- set hashed = [] -%}
{%- for attribute in attributes -%}
    {%- do hashed.append("coalesce(" ~ dbt.safe_cast(attribute, api.Column.translate_type("string")) ~ ", '~')") -%}
    {%- do hashed.append("'|'") -%}
{%- endfor -%}

with

identity_map as (
    select * from {{ source('core', 'customer_identity_map') }}
),

records as (
    select
        identity_map.customer_key,
        records.*,
        1 as source_rank
    from {{ ref('int_customer_records_unioned') }} as records
    inner join identity_map
        on
            records.source_system = identity_map.source_system
            and records.source_customer_id = identity_map.source_customer_id
),

-- A customer's history starts when any of its records or activity was first seen; customers
-- known only from their activity (no customer record) get one version without attributes.
first_seen as (
    select
        customer_key,
        min(first_seen_at) as first_seen_at
    from identity_map
    group by customer_key
),

without_records as (
    select first_seen.*
    from first_seen
    left join records on first_seen.customer_key = records.customer_key
    where records.customer_key is null
),

points as (
    select
        customer_key,
        updated_at,
        source_rank,
        source_system,
        source_customer_id,
        {% for attribute in attributes %}{{ attribute }},
        {% endfor %}
        source_system as record_source
    from records
    union all
    select
        customer_key,
        first_seen_at as updated_at,
        0 as source_rank,
        null as source_system,
        null as source_customer_id,
        {% for attribute in attributes %}null as {{ attribute }},
        {% endfor %}
        null as record_source
    from without_records
),

golden as (
    select
        customer_key,
        updated_at,
        {% for attribute in attributes %}
            {{ cif.last_non_null(attribute, window[0], window[1]) }} as {{ attribute }},
        {% endfor %}
        {{ cif.last_non_null("case when last_name is not null then record_source end", window[0], window[1]) }}
            as name_source,
        {{ cif.last_non_null("case when email is not null then record_source end", window[0], window[1]) }}
            as email_source,
        {{ cif.last_non_null("case when address_line is not null then record_source end", window[0], window[1]) }}
            as address_source,
        row_number() over (
            partition by customer_key, updated_at order by source_rank desc, source_system desc, source_customer_id desc
        ) as point_rank
    from points
),

at_each_point as (
    select
        *,
        {{ dbt.hash(dbt.concat(hashed)) }} as attribute_hash
    from golden
    where point_rank = 1
),

changes as (
    select
        *,
        lag(attribute_hash) over (partition by customer_key order by updated_at) as previous_hash
    from at_each_point
),

versions as (
    select *
    from changes
    where previous_hash is null or previous_hash != attribute_hash
)

select
    versions.customer_key,
    {% for attribute in attributes %}{{ attribute }},
    {% endfor %}
    versions.name_source,
    versions.email_source,
    versions.address_source,
    case
        when versions.previous_hash is null then least(versions.updated_at, first_seen.first_seen_at)
        else versions.updated_at
    end as valid_from,
    lead(versions.updated_at) over (partition by versions.customer_key order by versions.updated_at) as valid_to,
    lead(versions.updated_at) over (
        partition by versions.customer_key order by versions.updated_at
    ) is null as is_current
from versions
inner join first_seen on versions.customer_key = first_seen.customer_key
