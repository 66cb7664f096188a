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
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by identity_map.customer_key, txn.occurred_at
