with

source as (
    select * from {{ known_source('app', 'profiles') }}
),

renamed as (
    select
        'app' as source_system,
        trim(device_id) as source_customer_id,
        lower(trim(platform)) as platform,
        cast(null as {{ dbt.type_string() }}) as national_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        cast(null as date) as date_of_birth,
        cast(null as {{ dbt.type_string() }}) as email,
        trim(phone) as phone,
        cast(null as {{ dbt.type_string() }}) as address_line,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postcode,
        cast(null as {{ dbt.type_string() }}) as country,
        coalesce({{ cif.declared_identity('app', 'profiles', 'party_type') }}, 'person') as party_type,
        {{ dbt.safe_cast("nullif(trim(birth_year), '')", api.Column.translate_type("integer")) }} as birth_year,
        {{ cif.declared_identity('app', 'profiles', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('app', 'profiles', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        {{ parse_timestamp('registered_at', '%Y-%m-%d %H:%M:%S') }} as registered_at,
        {{ business_time(parse_timestamp('updated_at', '%Y-%m-%d %H:%M:%S'), 'trim(device_id)') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
