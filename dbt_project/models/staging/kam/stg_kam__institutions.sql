with

source as (
    select * from {{ known_source('kam', 'institutions') }}
),

renamed as (
    select
        'kam' as source_system,
        trim(ka_id) as source_customer_id,
        trim(registration_no) as national_id,
        cast(null as {{ dbt.type_string() }}) as first_name,
        trim(legal_name) as last_name,
        cast(null as date) as date_of_birth,
        lower(trim(contact_email)) as email,
        trim(contact_phone) as phone,
        trim(street) as address_line,
        trim(city) as city,
        trim(postcode) as postcode,
        'GB' as country,
        coalesce({{ cif.declared_identity('kam', 'institutions', 'party_type') }}, 'person') as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('kam', 'institutions', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('kam', 'institutions', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        lower(trim(org_type)) as organisation_type,
        lower(trim(sector)) as sector,
        trim(account_manager) as account_manager,
        {{ parse_date('key_account_since', '%Y-%m-%d') }} as key_account_since,
        {{ business_time(parse_timestamp('updated_at', '%Y-%m-%d %H:%M:%S'), 'trim(ka_id)') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
