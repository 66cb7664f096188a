select
    identity_map.customer_key,
    transactions.source_system,
    transactions.transaction_id,
    transactions.source_customer_id,
    transactions.occurred_at,
    cast(transactions.occurred_at as date) as occurred_on,
    transactions.amount,
    transactions.currency,
    transactions.channel,
    transactions.product,
    transactions.batch_id
from {{ ref('int_transactions_unioned') }} as transactions
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        transactions.source_system = identity_map.source_system
        and transactions.source_customer_id = identity_map.source_customer_id
