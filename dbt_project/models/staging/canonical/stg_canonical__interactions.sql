with

source as (
    select * from {{ known_source('canonical', 'interactions') }}
),

renamed as (
    select
        _source_system as source_system,
        trim(interaction_id) as interaction_id,
        trim(source_customer_id) as source_customer_id,
        {{ parse_timestamp('occurred_at') }} as occurred_at,
        lower(trim(channel)) as channel,
        lower(trim(interaction_type)) as interaction_type,
        coalesce({{ parse_boolean('is_complaint') }}, false) as is_complaint,
        {{ parse_timestamp('resolved_at') }} as resolved_at,
        {{ dbt.safe_cast("nullif(trim(satisfaction), '')", api.Column.translate_type("integer")) }} as satisfaction,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("_source_system, trim(interaction_id)") }} as load_rank
    from source
)

select
    source_system,
    interaction_id,
    source_customer_id,
    occurred_at,
    channel,
    interaction_type,
    is_complaint,
    case when resolved_at < {{ as_of_cutoff() }} then resolved_at end as resolved_at,
    satisfaction,
    batch_id,
    loaded_at
from renamed
where load_rank = 1
