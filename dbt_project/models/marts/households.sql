{#- Household-level RFM, CLV and members (household_key from customer_360). -#}
with

members as (
    select
        customer_key,
        household_key
    from {{ ref('customer_360') }}
),

purchase_days as (
    select
        members.household_key,
        txn.occurred_on,
        sum(txn.amount) as revenue
    from members
    inner join {{ ref('fct_transactions') }} as txn
        on members.customer_key = txn.customer_key
    where txn.amount > 0 and txn.occurred_on <= {{ as_of_date() }}
    group by members.household_key, txn.occurred_on
),

household_rfm as (
    select
        household_key,
        min(occurred_on) as first_purchase_on,
        max(occurred_on) as last_purchase_on,
        count(*) as purchase_days,
        sum(revenue) as lifetime_revenue,
        sum(
            case when occurred_on > {{ dbt.dateadd('day', -365, as_of_date()) }} then revenue else 0 end
        ) as revenue_365d
    from purchase_days
    group by household_key
),

member_values as (
    select
        members.household_key,
        count(*) as members,
        {{ dbt.listagg(dbt.cast('members.customer_key', dbt.type_string()), "', '", "order by members.customer_key") }}
            as member_keys,
        sum(scores.clv_net_12m) as clv_net_12m,
        sum(scores.clv_net_36m) as clv_net_36m,
        sum(scores.clv_gross_36m) as clv_gross_36m,
        max(scores.p_alive) as max_p_alive,
        cast(sum(case when key_accounts.customer_key is not null then 1 else 0 end) as {{ dbt.type_bigint() }})
            as key_account_members
    from members
    left join {{ source('scores', 'customer_scores') }} as scores
        on members.customer_key = scores.customer_key and scores.as_of_date = {{ as_of_date() }}
    left join {{ ref('key_accounts') }} as key_accounts
        on members.customer_key = key_accounts.customer_key
    group by members.household_key
),

combined as (
    select
        member_values.household_key,
        member_values.members,
        member_values.member_keys,
        household_rfm.first_purchase_on,
        household_rfm.last_purchase_on,
        {{ cif.days_between('household_rfm.last_purchase_on', as_of_date()) }} as recency_days,  -- noqa: LT05
        coalesce(household_rfm.purchase_days, 0) as purchase_days,
        cast(coalesce(household_rfm.lifetime_revenue, 0) as decimal(38, 2)) as lifetime_revenue,
        cast(coalesce(household_rfm.revenue_365d, 0) as decimal(38, 2)) as revenue_365d,
        member_values.clv_net_12m,
        member_values.clv_net_36m,
        member_values.clv_gross_36m,
        member_values.max_p_alive,
        member_values.key_account_members
    from member_values
    left join household_rfm on member_values.household_key = household_rfm.household_key
),

ranked as (
    select
        *,
        percent_rank() over (partition by purchase_days > 0 order by recency_days desc) as recency_rank,
        percent_rank() over (partition by purchase_days > 0 order by purchase_days) as frequency_rank,
        percent_rank() over (partition by purchase_days > 0 order by lifetime_revenue) as monetary_rank
    from combined
)

select
    household_key,
    members,
    member_keys,
    first_purchase_on,
    last_purchase_on,
    recency_days,
    purchase_days,
    lifetime_revenue,
    revenue_365d,
    case
        when purchase_days > 0 then least(5, 1 + cast(floor(5 * recency_rank) as {{ dbt.type_int() }}))
    end as recency_score,
    case
        when purchase_days > 0 then least(5, 1 + cast(floor(5 * frequency_rank) as {{ dbt.type_int() }}))
    end as frequency_score,
    case
        when purchase_days > 0 then least(5, 1 + cast(floor(5 * monetary_rank) as {{ dbt.type_int() }}))
    end as monetary_score,
    clv_net_12m,
    clv_net_36m,
    clv_gross_36m,
    max_p_alive,
    key_account_members
from ranked
