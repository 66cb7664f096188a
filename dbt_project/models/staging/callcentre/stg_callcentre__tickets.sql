with

source as (
    select * from {{ known_source('callcentre', 'tickets') }}
),

renamed as (
    select
        'callcentre' as source_system,
        trim(ticketno) as interaction_id,
        trim(phonenumber) as source_customer_id,
        nullif(trim(callid), '') as call_id,
        {{ parse_timestamp('openedat', '%m/%d/%Y %H:%M') }} as occurred_at,
        'phone' as channel,
        'ticket: ' || lower(coalesce(nullif(trim(category), ''), 'unknown')) as interaction_type,
        coalesce(upper(trim(category)) = 'COMPLAINT', false) as is_complaint,
        {{ parse_timestamp('resolvedat', '%m/%d/%Y %H:%M') }} as resolved_at,
        {{ dbt.safe_cast("nullif(trim(csat), '')", api.Column.translate_type("integer")) }} as satisfaction,
        {{ parse_boolean('fcr') }} as first_contact_resolution,
        _batch_id as batch_id,
        _row_number as row_number_in_file,
        _loaded_at as loaded_at
    from source
),

as_of as (
    select
        *,
        row_number() over (
            partition by interaction_id
            order by
                case when resolved_at < {{ as_of_cutoff() }} then 0 else 1 end,
                batch_id desc,
                row_number_in_file desc
        ) as version_rank
    from renamed
    where occurred_at < {{ as_of_cutoff() }}
)

select
    source_system,
    interaction_id,
    source_customer_id,
    call_id,
    occurred_at,
    channel,
    interaction_type,
    is_complaint,
    case when resolved_at < {{ as_of_cutoff() }} then resolved_at end as resolved_at,
    case when resolved_at < {{ as_of_cutoff() }} then satisfaction end as satisfaction,
    first_contact_resolution,
    batch_id,
    loaded_at
from as_of
where version_rank = 1
