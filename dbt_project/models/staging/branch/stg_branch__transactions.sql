with

source as (
    select * from {{ known_source('branch', 'transactions') }}
),

renamed as (
    select
        'branch' as source_system,
        trim(txn_ref) as transaction_id,
        trim(cust_no) as source_customer_id,
        trim(acct_no) as account_id,
        cast({{ parse_date('book_dt', '%d.%m.%Y') }} as timestamp) as occurred_at,
        {{ parse_decimal('amt', ',') }} as amount,
        {{ currency_or_reporting('ccy') }} as currency,
        'branch' as channel,
        case upper(trim(txn_type))
            when 'KAUF' then 'purchase'
            when 'FIRMA' then 'business'
            else lower(trim(txn_type))
        end as product,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("trim(txn_ref)") }} as load_rank
    from source
)

select
    source_system,
    transaction_id,
    source_customer_id,
    account_id,
    occurred_at,
    amount,
    currency,
    channel,
    product,
    batch_id,
    loaded_at
from renamed
where load_rank = 1
