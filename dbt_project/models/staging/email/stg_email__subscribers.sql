with

source as (
    select * from {{ known_source('email', 'subscribers') }}
),

renamed as (
    select
        'email' as source_system,
        lower(trim(email_address)) as source_customer_id,
        cast(null as {{ dbt.type_string() }}) as national_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        cast(null as date) as date_of_birth,
        lower(trim(email_address)) as email,
        cast(null as {{ dbt.type_string() }}) as phone,
        cast(null as {{ dbt.type_string() }}) as address_line,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postcode,
        cast(null as {{ dbt.type_string() }}) as country,
        coalesce({{ cif.declared_identity('email', 'subscribers', 'party_type') }}, 'person') as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('email', 'subscribers', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('email', 'subscribers', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        lower(trim(status)) as subscription_status,
        {{ parse_date('opt_in_date', '%Y-%m-%d') }} as opted_in_on,
        {{
            business_time(parse_timestamp('last_changed', '%Y-%m-%dT%H:%M:%S'), 'lower(trim(email_address))')
        }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
