with

source as (
    select * from {{ known_source('email', 'events') }}
),

renamed as (
    select
        'email' as source_system,
        lower(trim(email)) as source_customer_id,
        lower(trim(event)) as event_type,
        trim(campaign_id) as campaign_id,
        {{ dbt.dateadd(
            "second",
            dbt.safe_cast("nullif(trim(event_ts), '')", api.Column.translate_type("bigint")),
            "cast('1970-01-01 00:00:00' as timestamp)",
        ) }} as occurred_at,
        _batch_id as batch_id,
        _row_number as row_number_in_file,
        _loaded_at as loaded_at
    from source
),

deduplicated as (
    select
        *,
        {{
            latest_load_rank(
                "source_customer_id, event_type, campaign_id, occurred_at",
                batch="batch_id",
                row="row_number_in_file"
            )
        }} as load_rank
    from renamed
)

select
    source_system,
    source_customer_id,
    event_type,
    campaign_id,
    occurred_at,
    batch_id,
    loaded_at
from deduplicated
where load_rank = 1 and occurred_at < {{ as_of_cutoff() }}
