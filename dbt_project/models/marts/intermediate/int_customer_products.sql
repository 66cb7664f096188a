{#- Branch accounts each customer holds as owner or joint owner, with opening and closing dates. -#}
select distinct
    identity_map.customer_key,
    branch_accounts.account_id,
    branch_accounts.product,
    branch_accounts.opened_on,
    branch_accounts.closed_on
from {{ ref('stg_branch__account_holders') }} as holders
inner join {{ ref('stg_branch__accounts') }} as branch_accounts
    on holders.account_id = branch_accounts.account_id
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        holders.source_system = identity_map.source_system
        and holders.source_customer_id = identity_map.source_customer_id
where
    holders.holder_role in ('owner', 'joint_owner')
    and (holders.valid_to is null or holders.valid_to > {{ as_of_date() }})
