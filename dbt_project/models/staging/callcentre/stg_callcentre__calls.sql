with

source as (
    select * from {{ known_source('callcentre', 'calls') }}
),

renamed as (
    select
        'callcentre' as source_system,
        trim(callid) as interaction_id,
        trim(phonenumber) as source_customer_id,
        nullif(trim(customernogiven), '') as referenced_customer_id,
        {{ parse_timestamp('startedat', '%m/%d/%Y %H:%M') }} as occurred_at,
        'phone' as channel,
        'call: ' || case upper(trim(reasoncode))
            when 'BAL' then 'balance'
            when 'CARD' then 'card'
            when 'ADDR' then 'address change'
            when 'PROD' then 'product'
            when 'COMP' then 'complaint'
            else 'other'
        end as interaction_type,
        false as is_complaint,
        cast(null as timestamp) as resolved_at,
        cast(null as {{ api.Column.translate_type("integer") }}) as satisfaction,
        nullif(trim(ticketno), '') as ticket_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at,
        {{ latest_load_rank("trim(callid)") }} as load_rank
    from source
)

select
    source_system,
    interaction_id,
    source_customer_id,
    referenced_customer_id,
    occurred_at,
    channel,
    interaction_type,
    is_complaint,
    resolved_at,
    satisfaction,
    ticket_id,
    batch_id,
    loaded_at
from renamed
where load_rank = 1
