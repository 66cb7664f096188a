with

source as (
    select * from {{ known_source('web', 'accounts') }}
),

renamed as (
    select
        'web' as source_system,
        lower(trim(login)) as source_customer_id,
        trim(accountid) as account_number,
        cast(null as {{ dbt.type_string() }}) as national_id,
        trim(givenname) as first_name,
        trim(familyname) as last_name,
        {{ parse_date('birthdate', '%Y-%m-%d') }} as date_of_birth,
        lower(trim(login)) as email,
        trim(mobile) as phone,
        trim(street) as address_line,
        trim(town) as city,
        trim(zip) as postcode,
        case upper(trim(country)) when 'UK' then 'GB' else upper(trim(country)) end as country,
        coalesce({{ cif.declared_identity('web', 'accounts', 'party_type') }}, 'person') as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('web', 'accounts', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('web', 'accounts', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        {{ parse_boolean('newsletter') }} as newsletter,
        {{ parse_timestamp('createdat') }} as created_at,
        {{ business_time(parse_timestamp('modifiedat'), 'lower(trim(login))') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
