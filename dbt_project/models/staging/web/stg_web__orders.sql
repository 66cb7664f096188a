with

source as (
    select * from {{ known_source('web', 'orders') }}
),

renamed as (
    select
        'web' as source_system,
        trim(orderno) as transaction_id,
        lower(trim(login)) as source_customer_id,
        {{ parse_timestamp('orderedat') }} as occurred_at,
        {{ parse_decimal('total') }} as amount,
        {{ currency_or_reporting('currency') }} as currency,
        'web' as channel,
        'online order' as product,
        upper(trim(status)) as order_status,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("trim(orderno)") }} as load_rank
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
where
    load_rank = 1
    and coalesce(order_status, 'PAID') != 'CANCELLED'
