{#-
    Who holds each account in which role, per unified customer: one row per account,
    customer_key and role (owner, joint_owner, payer, user), with the role's validity.
    Two source records of one customer holding the same account in the same role are one row:
    from the earliest start to the latest end (open if either is open).
-#}
with

-- the holders of every source, as identity resolution reads them (a table: the staging view
-- would rank every raw row again)
holders as (
    select * from {{ ref('int_account_holders_unioned') }}
),

accounts as (
    select * from {{ ref('stg_branch__accounts') }}
),

identity_map as (
    select * from {{ source('core', 'customer_identity_map') }}
),

roles as (
    select
        holders.source_system,
        holders.account_id,
        identity_map.customer_key,
        holders.holder_role,
        min(holders.valid_from) as valid_from,
        case when count(holders.valid_to) = count(*) then max(holders.valid_to) end as valid_to
    from holders
    inner join identity_map
        on
            holders.source_system = identity_map.source_system
            and holders.source_customer_id = identity_map.source_customer_id
    group by holders.source_system, holders.account_id, identity_map.customer_key, holders.holder_role
)

select
    roles.source_system,
    roles.account_id,
    roles.customer_key,
    roles.holder_role,
    accounts.product,
    accounts.opened_on,
    accounts.closed_on,
    roles.valid_from,
    roles.valid_to,
    -- Staging leaves out ends after the as-of date: a role is current while it has no end and
    -- its account is not closed.
    roles.valid_to is null and accounts.closed_on is null as is_current
from roles
left join accounts
    on
        roles.source_system = accounts.source_system
        and roles.account_id = accounts.account_id
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by roles.customer_key, roles.account_id
