{#-
    For each customer, every role anyone holds on the accounts the customer holds a role on
    (the customer's own roles included), with both roles' validity: the frontline shows one
    customer's accounts with all their holders from one sorted table, where the same from
    fct_account_roles needs a second search by account.
-#}
with

roles as (
    select * from {{ ref('fct_account_roles') }}
)

select
    mine.customer_key,
    mine.valid_from as customer_valid_from,
    mine.valid_to as customer_valid_to,
    holders.source_system,
    holders.account_id,
    holders.product,
    holders.customer_key as holder_key,
    holders.holder_role,
    holders.opened_on,
    holders.closed_on,
    holders.valid_from,
    holders.valid_to
from roles as mine
inner join roles as holders
    on
        mine.source_system = holders.source_system
        and mine.account_id = holders.account_id
order by mine.customer_key, holders.account_id, holders.customer_key
