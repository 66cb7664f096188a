{{
    config(
        materialized="incremental",
        incremental_strategy=cif_incremental_strategy(),
        unique_key=["source_system", "interaction_id"],
    )
}}
{% for model in [
    'stg_app__events',
    'stg_callcentre__calls',
    'stg_callcentre__tickets',
    'stg_canonical__interactions',
] %}
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
    from {{ ref(model) }}
    {% if is_incremental() %}where {{ cif.night_of_facts(time_columns=["occurred_at", "resolved_at"]) }}{% endif %}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
