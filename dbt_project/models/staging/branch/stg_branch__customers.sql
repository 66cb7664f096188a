with

source as (
    select * from {{ known_source('branch', 'customers') }}
),

renamed as (
    select
        'branch' as source_system,
        trim(cust_no) as source_customer_id,
        case upper(trim(cust_type)) when 'B' then 'business' else 'private' end as customer_type,
        trim(natl_id) as national_id,
        trim(first_nm) as first_name,
        trim(last_nm) as last_name,
        {{ parse_date('birth_dt', '%d.%m.%Y') }} as date_of_birth,
        trim(email) as email,
        trim(phone) as phone,
        trim(street) as address_line,
        trim(city) as city,
        trim(zip) as postcode,
        'GB' as country,
        trim(branch_cd) as branch_code,
        case upper(trim(cust_type)) when 'B' then 'organisation' else 'person' end as party_type,
        cast(null as integer) as birth_year,
        {{ cif.declared_identity('branch', 'customers', 'phone_region') }} as phone_region,
        {{ cif.declared_identity('branch', 'customers', 'references') }} as referenced_source_system,
        cast(null as {{ dbt.type_string() }}) as referenced_customer_id,
        {{ business_time(parse_timestamp('chg_ts', '%Y-%m-%d %H:%M:%S'), 'trim(cust_no)') }} as updated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
where updated_at < {{ as_of_cutoff() }}
