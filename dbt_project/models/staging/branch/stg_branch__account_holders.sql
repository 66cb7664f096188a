with

source as (
    select * from {{ known_source('branch', 'account_holders') }}
),

renamed as (
    select
        'branch' as source_system,
        trim(acct_no) as account_id,
        trim(cust_no) as source_customer_id,
        upper(trim(role_cd)) as role_code,
        case upper(trim(role_cd))
            when 'IN' then 'owner'
            when 'MI' then 'joint_owner'
            when 'ZA' then 'payer'
            when 'NU' then 'user'
            else 'unknown'
        end as holder_role,
        {{ parse_date('valid_from', '%d.%m.%Y') }} as valid_from,
        {{ parse_date('valid_to', '%d.%m.%Y') }} as valid_to,
        _batch_id as batch_id,
        _row_number as row_number_in_file,
        _loaded_at as loaded_at
    from source
),

latest as (
    select
        *,
        {{
            latest_load_rank(
                "account_id, source_customer_id, role_code",
                batch="batch_id",
                row="row_number_in_file"
            )
        }} as load_rank
    from renamed
    where valid_from < {{ as_of_cutoff() }}
)

select
    source_system,
    account_id,
    source_customer_id,
    role_code,
    holder_role,
    valid_from,
    case when valid_to < {{ as_of_cutoff() }} then valid_to end as valid_to,
    batch_id,
    loaded_at
from latest
where load_rank = 1
