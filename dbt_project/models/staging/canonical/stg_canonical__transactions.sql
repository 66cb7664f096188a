with

source as (
    select * from {{ known_source('canonical', 'transactions') }}
),

renamed as (
    select
        _source_system as source_system,
        trim(transaction_id) as transaction_id,
        trim(source_customer_id) as source_customer_id,
        {{ parse_timestamp('occurred_at') }} as occurred_at,
        {{ parse_decimal('amount') }} as amount,
        {{ currency_or_reporting('currency') }} as currency,
        coalesce(lower(nullif(trim(channel), '')), _source_system) as channel,
        lower(trim(product)) as product,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("_source_system, trim(transaction_id)") }} as load_rank
    from source
)

select
    source_system,
    transaction_id,
    source_customer_id,
    occurred_at,
    amount,
    currency,
    channel,
    product,
    batch_id,
    loaded_at
from renamed
where load_rank = 1
