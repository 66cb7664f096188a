with

source as (
    select * from {{ known_source('callcentre', 'contacts') }}
),

renamed as (
    select
        'callcentre' as source_system,
        trim(phonenumber) as source_customer_id,
        cast(null as {{ dbt.type_string() }}) as national_id,
        nullif(trim({{ dbt.split_part('trim(callername)', "' '", 1) }}), '') as first_name,
        nullif(trim({{ dbt.split_part('trim(callername)', "' '", 2) }}), '') as last_name,
        cast(null as date) as date_of_birth,
        cast(null as {{ dbt.type_string() }}) as email,
        trim(phonenumber) as phone,
        cast(null as {{ dbt.type_string() }}) as address_line,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postcode,
        'GB' as country,
        coalesce({{ cif.declared_identity('callcentre', 'contacts', 'party_type') }}, 'person') as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('callcentre', 'contacts', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('callcentre', 'contacts', 'references') }} as referenced_source_system,
        nullif(trim(customernogiven), '') as referenced_customer_id,
        {{ parse_timestamp('firstcallat', '%m/%d/%Y %H:%M') }} as first_call_at,
        {{ business_time(parse_timestamp('lastupdated', '%m/%d/%Y %H:%M'), 'trim(phonenumber)') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
