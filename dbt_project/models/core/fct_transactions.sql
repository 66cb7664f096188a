{{
    config(
        materialized="incremental",
        incremental_strategy=cif_incremental_strategy(),
        unique_key=["source_system", "transaction_id"],
        pre_hook="{{ cif.delete_pending_facts('int_transactions_unioned', 'transaction_id') }}",
    )
}}
{% if is_incremental() %}
    with rekeyed as ({{ cif.rekeyed_source_records() }})

{% endif %}
select
    identity_map.customer_key,
    txn.source_system,
    txn.transaction_id,
    txn.source_customer_id,
    txn.occurred_at,
    cast(txn.occurred_at as date) as occurred_on,
    {{ cif.to_reporting_currency('txn.amount', 'txn.currency') }} as amount,
    '{{ var("reporting_currency") }}' as currency,
    txn.amount as original_amount,
    txn.currency as original_currency,
    txn.channel,
    txn.product,
    txn.batch_id
from {{ ref('int_transactions_unioned') }} as txn
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        txn.source_system = identity_map.source_system
        and txn.source_customer_id = identity_map.source_customer_id
{% if is_incremental() %}
    left join rekeyed
        on
            txn.source_system = rekeyed.source_system
            and txn.source_customer_id = rekeyed.source_customer_id
{% endif %}
-- the union holds every latest version; the facts are those dated by the as-of
where
    txn.occurred_at < {{ as_of_cutoff() }}
{% if is_incremental() %}
        and (
            {{ cif.night_of_facts("txn.batch_id", ["txn.occurred_at"]) }}
            or rekeyed.source_system is not null
        )
{% endif %}
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by identity_map.customer_key, txn.occurred_at
