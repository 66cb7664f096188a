with

source as (
    select * from {{ known_source('app', 'events') }}
),

renamed as (
    select
        'app' as source_system,
        trim(event_id) as transaction_id,
        trim(device_id) as source_customer_id,
        {{ parse_timestamp('event_time', '%Y-%m-%d %H:%M:%S') }} as occurred_at,
        {{ dbt.safe_cast("nullif(trim(amount_minor), '')", "decimal(18, 4)") }} / 100 as amount,
        {{ currency_or_reporting('currency') }} as currency,
        'app' as channel,
        'app payment' as product,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("trim(event_id)") }} as load_rank
    from source
    where lower(trim(event_type)) = 'payment'
)

select
    source_system,
    transaction_id,
    source_customer_id,
    occurred_at,
    cast(amount as decimal(18, 4)) as amount,
    currency,
    channel,
    product,
    batch_id,
    loaded_at
from renamed
where load_rank = 1 and amount is not null
