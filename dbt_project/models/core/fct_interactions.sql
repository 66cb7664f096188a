{{
    config(
        materialized="incremental",
        incremental_strategy=cif_incremental_strategy(),
        unique_key=["source_system", "interaction_id"],
        pre_hook="{{ cif.delete_pending_facts('int_interactions_unioned', 'interaction_id') }}",
    )
}}
{% if is_incremental() %}
    with rekeyed as ({{ cif.rekeyed_source_records() }})

{% endif %}
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
{% if is_incremental() %}
    left join rekeyed
        on
            interactions.source_system = rekeyed.source_system
            and interactions.source_customer_id = rekeyed.source_customer_id
{% endif %}
-- the union holds every latest version; the facts are those dated by the as-of
where
    interactions.occurred_at < {{ as_of_cutoff() }}
{% if is_incremental() %}
        and (
            {{ cif.night_of_facts("interactions.batch_id", ["interactions.occurred_at", "interactions.resolved_at"]) }}
            or rekeyed.source_system is not null
        )
{% endif %}
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by identity_map.customer_key, interactions.occurred_at
