{#- Every touchpoint per customer: interactions (with first-contact resolution of tickets) and e-mail events. -#}
select
    interactions.customer_key,
    interactions.channel,
    interactions.interaction_type,
    interactions.occurred_at,
    coalesce(interactions.is_complaint, false) as is_complaint,
    interactions.resolved_at,
    interactions.satisfaction,
    tickets.first_contact_resolution
from {{ ref('fct_interactions') }} as interactions
left join {{ ref('stg_callcentre__tickets') }} as tickets
    on
        interactions.source_system = tickets.source_system
        and interactions.interaction_id = tickets.interaction_id
where interactions.occurred_at < {{ as_of_cutoff() }}

union all

select
    identity_map.customer_key,
    'email' as channel,
    {{ dbt.concat(["'email: '", "events.event_type"]) }} as interaction_type,
    events.occurred_at,
    false as is_complaint,
    cast(null as {{ dbt.type_timestamp() }}) as resolved_at,
    cast(null as {{ dbt.type_int() }}) as satisfaction,
    cast(null as {{ dbt.type_boolean() }}) as first_contact_resolution
from {{ ref('stg_email__events') }} as events
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        events.source_system = identity_map.source_system
        and events.source_customer_id = identity_map.source_customer_id
