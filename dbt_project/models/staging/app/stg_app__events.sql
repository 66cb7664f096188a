with

source as (
    select * from {{ known_source('app', 'events') }}
),

renamed as (
    select
        'app' as source_system,
        trim(event_id) as interaction_id,
        trim(device_id) as source_customer_id,
        {{ parse_timestamp('event_time', '%Y-%m-%d %H:%M:%S') }} as occurred_at,
        'app' as channel,
        lower(trim(event_type)) as interaction_type,
        false as is_complaint,
        cast(null as timestamp) as resolved_at,
        cast(null as {{ api.Column.translate_type("integer") }}) as satisfaction,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("trim(event_id)") }} as load_rank
    from source
    where lower(trim(event_type)) != 'payment'
)

select
    source_system,
    interaction_id,
    source_customer_id,
    occurred_at,
    channel,
    interaction_type,
    is_complaint,
    resolved_at,
    satisfaction,
    batch_id,
    loaded_at
from renamed
where load_rank = 1
