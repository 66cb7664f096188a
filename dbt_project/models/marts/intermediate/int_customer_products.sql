{#- Branch accounts each customer currently holds as owner or joint owner, with opening and
    closing dates (from core.fct_account_roles; a holder of an account unknown to the branch
    accounts extract has no product and is left out). -#}
select distinct
    customer_key,
    account_id,
    product,
    opened_on,
    closed_on
from {{ ref('fct_account_roles') }}
where
    holder_role in ('owner', 'joint_owner')
    and valid_to is null
    and product is not null
