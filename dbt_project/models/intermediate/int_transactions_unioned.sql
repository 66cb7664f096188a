{{
    config(
        materialized="incremental",
        incremental_strategy=cif_incremental_strategy(),
        unique_key=["source_system", "transaction_id"],
    )
}}
{% for model in [
    'stg_branch__transactions',
    'stg_web__orders',
    'stg_app__payments',
    'stg_canonical__transactions',
] %}
    select
        source_system,
        transaction_id,
        source_customer_id,
        occurred_at,
        amount,
        currency,
        channel,
        product,
        batch_id,
        loaded_at
    from {{ ref(model) }}
    {% if is_incremental() %}where {{ cif.night_of_facts(time_columns=["occurred_at"]) }}{% endif %}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
