with

source as (
    select * from {{ known_source('canonical', 'customers') }}
),

renamed as (
    select
        _source_system as source_system,
        trim(source_customer_id) as source_customer_id,
        trim(national_id) as national_id,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        {{ parse_date('date_of_birth') }} as date_of_birth,
        trim(email) as email,
        trim(phone) as phone,
        trim(address_line) as address_line,
        trim(city) as city,
        trim(postcode) as postcode,
        upper(trim(country)) as country,
        coalesce({{ cif.declared_identity('canonical', 'customers', 'party_type') }}, 'person') as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('canonical', 'customers', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('canonical', 'customers', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        {{ business_time(parse_timestamp('updated_at'), '_source_system, trim(source_customer_id)') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
