select
    identity_map.customer_key,
    interactions.source_system,
    interactions.interaction_id,
    interactions.source_customer_id,
    interactions.occurred_at,
    interactions.channel,
    interactions.interaction_type,
    interactions.is_complaint,
    interactions.resolved_at,
    interactions.satisfaction,
    interactions.batch_id
from {{ ref('int_interactions_unioned') }} as interactions
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        interactions.source_system = identity_map.source_system
        and interactions.source_customer_id = identity_map.source_customer_id
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by identity_map.customer_key, interactions.occurred_at
