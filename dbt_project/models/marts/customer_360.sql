with

customers as (
    select * from {{ ref('dim_customer') }}
    where is_current
),

identifiers as (
    select
        customer_key,
        count(*) as source_records,
        {{ dbt.listagg(
            "source_system || ':' || source_customer_id",
            "', '",
            "order by source_system, source_customer_id",
        ) }} as source_identifiers
    from {{ source('core', 'customer_identity_map') }}
    group by customer_key
),

activity as (
    select
        customer_key,
        channel,
        occurred_at,
        amount
    from {{ ref('fct_transactions') }}
    union all
    select
        customer_key,
        channel,
        occurred_at,
        null as amount
    from {{ ref('fct_interactions') }}
),

-- one pass over the activity: per channel, then per customer from the channels
channel_use as (
    select
        customer_key,
        channel,
        count(*) as touches,
        min(occurred_at) as first_activity_at,
        max(occurred_at) as last_activity_at,
        sum(case when amount > 0 then amount else 0 end) as spend,
        row_number() over (partition by customer_key order by count(*) desc, channel) as channel_rank
    from activity
    group by customer_key, channel
),

channels as (
    select
        customer_key,
        count(*) as channels_used,
        {{ dbt.listagg("channel", "', '", "order by channel") }} as channel_list,
        max(case when channel_rank = 1 then channel end) as preferred_channel,
        min(first_activity_at) as first_activity_at,
        max(last_activity_at) as last_activity_at,
        sum(spend) as lifetime_spend
    from channel_use
    group by customer_key
),

complaints as (
    select
        customer_key,
        count(*) as complaints,
        cast(sum(case when resolved_at is null then 1 else 0 end) as bigint) as unresolved_complaints
    from {{ ref('fct_interactions') }}
    where is_complaint
    group by customer_key
),

scores as (
    select * from {{ source('scores', 'customer_scores') }}
    where as_of_date = {{ as_of_date() }}
),

value_tiers as (
    select
        customer_key,
        segment as value_segment
    from {{ ref('customer_segments') }}
    where scheme = 'value_tier'
),

key_accounts as (
    select customer_key from {{ ref('key_accounts') }}
),

households as (
    select
        customer_key,
        household_key
    from {{ source('core', 'customer_household') }}
),

current_roles as (
    select * from {{ ref('fct_account_roles') }}
    where is_current
),

account_roles as (
    select
        customer_key,
        count(distinct case when holder_role in ('owner', 'joint_owner') then account_id end) as accounts_owned,
        count(distinct case when holder_role = 'payer' then account_id end) as accounts_paid_for,
        count(distinct case when holder_role = 'user' then account_id end) as accounts_used
    from current_roles
    group by customer_key
),

-- Ranked apart from the wide rows: a window over the whole table sorts what it carries.
clv_ranks as (
    select
        customers.customer_key,
        percent_rank() over (order by coalesce(scores.clv_net_36m, 0)) as clv_percentile
    from customers
    left join scores on customers.customer_key = scores.customer_key
),

-- Payers of an account that another customer owns (or owns jointly).
paying_for_others as (
    select distinct payers.customer_key
    from current_roles as payers
    inner join current_roles as owners
        on
            payers.source_system = owners.source_system
            and payers.account_id = owners.account_id
    where
        payers.holder_role = 'payer'
        and owners.holder_role in ('owner', 'joint_owner')
        and owners.customer_key != payers.customer_key
),

valued as (
    select
        customers.customer_key,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.date_of_birth,
        customers.national_id,
        customers.address_line,
        customers.city,
        customers.postcode,
        customers.country,
        coalesce(households.household_key, customers.customer_key) as household_key,
        identifiers.source_records,
        identifiers.source_identifiers,
        coalesce(channels.channels_used, 0) as channels_used,
        channels.channel_list,
        channels.preferred_channel,
        channels.first_activity_at,
        channels.last_activity_at,
        cast(coalesce(channels.lifetime_spend, 0) as decimal(38, 2)) as lifetime_spend,
        coalesce(complaints.complaints, 0) as complaints,
        coalesce(complaints.unresolved_complaints, 0) as unresolved_complaints,
        coalesce(account_roles.accounts_owned, 0) as accounts_owned,
        coalesce(account_roles.accounts_paid_for, 0) as accounts_paid_for,
        coalesce(account_roles.accounts_used, 0) as accounts_used,
        paying_for_others.customer_key is not null as pays_for_others,
        scores.frequency as rfm_frequency,
        scores.recency as rfm_recency_days,
        scores.tenure as rfm_tenure_days,
        scores.monetary_value as rfm_monetary_value,
        scores.expected_purchases_365d,
        scores.p_alive,
        scores.attrition_risk,
        scores.expected_avg_order_value,
        scores.clv_gross_12m,
        scores.clv_net_12m,
        scores.clv_gross_36m,
        scores.clv_gross_36m_p05,
        scores.clv_gross_36m_p95,
        scores.clv_net_36m,
        clv_ranks.clv_percentile,
        coalesce(value_tiers.value_segment, 'prospect') as value_segment,
        key_accounts.customer_key is not null as is_key_account
    from customers
    left join identifiers on customers.customer_key = identifiers.customer_key
    left join channels on customers.customer_key = channels.customer_key
    left join complaints on customers.customer_key = complaints.customer_key
    left join scores on customers.customer_key = scores.customer_key
    left join households on customers.customer_key = households.customer_key
    left join value_tiers on customers.customer_key = value_tiers.customer_key
    left join key_accounts on customers.customer_key = key_accounts.customer_key
    left join account_roles on customers.customer_key = account_roles.customer_key
    left join paying_for_others on customers.customer_key = paying_for_others.customer_key
    left join clv_ranks on customers.customer_key = clv_ranks.customer_key
)

select
    customer_key,
    first_name,
    last_name,
    email,
    phone,
    date_of_birth,
    national_id,
    address_line,
    city,
    postcode,
    country,
    household_key,
    source_records,
    source_identifiers,
    channels_used,
    channel_list,
    preferred_channel,
    first_activity_at,
    last_activity_at,
    lifetime_spend,
    complaints,
    unresolved_complaints,
    accounts_owned,
    accounts_paid_for,
    accounts_used,
    pays_for_others,
    rfm_frequency,
    rfm_recency_days,
    rfm_tenure_days,
    rfm_monetary_value,
    expected_purchases_365d,
    p_alive,
    attrition_risk,
    expected_avg_order_value,
    clv_gross_12m,
    clv_net_12m,
    clv_gross_36m,
    clv_gross_36m_p05,
    clv_gross_36m_p95,
    clv_net_36m,
    clv_percentile,
    value_segment,
    is_key_account
from valued
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by customer_key
