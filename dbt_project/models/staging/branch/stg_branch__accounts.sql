with

source as (
    select * from {{ known_source('branch', 'accounts') }}
),

renamed as (
    select
        'branch' as source_system,
        trim(acct_no) as account_id,
        upper(trim(prod_cd)) as product_code,
        case upper(trim(prod_cd))
            when 'GIRO' then 'current_account'
            when 'SPAR' then 'savings'
            when 'KART' then 'card'
            when 'HYPO' then 'mortgage'
            when 'KRED' then 'credit_line'
            else lower(trim(prod_cd))
        end as product,
        {{ parse_date('open_dt', '%d.%m.%Y') }} as opened_on,
        {{ parse_date('close_dt', '%d.%m.%Y') }} as closed_on,
        trim(branch_cd) as branch_code,
        {{ business_time(parse_timestamp('chg_ts', '%Y-%m-%d %H:%M:%S'), 'trim(acct_no)') }} as updated_at,
        _batch_id as batch_id,
        _row_number as row_number_in_file,
        _loaded_at as loaded_at
    from source
),

as_of as (
    select
        *,
        {{
            latest_load_rank(
                "account_id",
                batch="batch_id",
                row="row_number_in_file",
                first_by="updated_at desc"
            )
        }} as version_rank
    from renamed
    where updated_at < {{ as_of_cutoff() }}
)

select
    source_system,
    account_id,
    product_code,
    product,
    opened_on,
    case when closed_on < {{ as_of_cutoff() }} then closed_on end as closed_on,
    branch_code,
    updated_at,
    batch_id,
    loaded_at
from as_of
where version_rank = 1
