{%- set double = api.Column.translate_type('double') -%}
{#-
    Company KPIs per day over the last `kpi_history_days` days, derived from the facts (so the
    whole history is rebuilt each run and past days never change unless late data arrives).
    A customer is active from a purchase until `lifecycle_lapsed_days` without one pass; so
    active(d) = active(d - 1) + new(d) + won back(d) - lapsed(d).
-#}
{%- set lapsed_days = var('lifecycle_lapsed_days') | int -%}
with

spine as (
    select
        cast({{ dbt.dateadd('day', '1 - generated_number', as_of_date()) }} as date) as kpi_date
    from ({{ dbt.generate_series(var('kpi_history_days') | int + 1) }}) as day_numbers
),

purchase_days as (
    select distinct
        customer_key,
        occurred_on as purchase_on
    from {{ ref('fct_transactions') }}
    where amount > 0 and occurred_on <= {{ as_of_date() }}
),

sequenced as (
    select
        customer_key,
        purchase_on,
        lag(purchase_on) over (partition by customer_key order by purchase_on) as previous_purchase_on,
        lead(purchase_on) over (partition by customer_key order by purchase_on) as next_purchase_on
    from purchase_days
),

events as (
    select
        purchase_on as event_date,
        case when previous_purchase_on is null then 1 else 0 end as new_customers,
        case
            when {{ dbt.datediff('previous_purchase_on', 'purchase_on', 'day') }} > {{ lapsed_days }} then 1 else 0  -- noqa: LT05
        end as won_back_customers,
        0 as lapsed_customers
    from sequenced
    union all
    select
        cast({{ dbt.dateadd('day', lapsed_days + 1, 'purchase_on') }} as date) as event_date,
        0 as new_customers,
        0 as won_back_customers,
        1 as lapsed_customers
    from sequenced
    where
        next_purchase_on is null
        or {{ dbt.datediff('purchase_on', 'next_purchase_on', 'day') }} > {{ lapsed_days }}  -- noqa: LT05
),

first_seen as (
    select
        customer_key,
        cast(min(valid_from) as date) as first_seen_on
    from {{ ref('dim_customer') }}
    group by customer_key
),

daily_events as (
    select
        event_date,
        sum(new_customers) as new_customers,
        sum(won_back_customers) as won_back_customers,
        sum(lapsed_customers) as lapsed_customers,
        0 as first_seen
    from events
    where event_date <= {{ as_of_date() }}
    group by event_date
    union all
    select
        first_seen_on as event_date,
        0 as new_customers,
        0 as won_back_customers,
        0 as lapsed_customers,
        count(*) as first_seen
    from first_seen
    where first_seen_on <= {{ as_of_date() }}
    group by first_seen_on
    union all
    select
        kpi_date as event_date,
        0 as new_customers,
        0 as won_back_customers,
        0 as lapsed_customers,
        0 as first_seen
    from spine
),

per_day as (
    select
        event_date,
        sum(new_customers) as new_customers,
        sum(won_back_customers) as won_back_customers,
        sum(lapsed_customers) as lapsed_customers,
        sum(first_seen) as first_seen
    from daily_events
    group by event_date
),

running as (
    select
        event_date,
        new_customers,
        won_back_customers,
        lapsed_customers,
        sum(first_seen) over (order by event_date rows between unbounded preceding and current row) as customers,
        sum(new_customers + won_back_customers - lapsed_customers) over (
            order by event_date rows between unbounded preceding and current row
        ) as active_customers
    from per_day
),

revenue as (
    select
        occurred_on,
        count(*) as transaction_count,
        sum(amount) as revenue
    from {{ ref('fct_transactions') }}
    where occurred_on <= {{ as_of_date() }}
    group by occurred_on
),

interactions as (
    select
        cast(occurred_at as date) as occurred_on,
        count(*) as interactions,
        sum(case when is_complaint then 1 else 0 end) as complaints
    from {{ ref('fct_interactions') }}
    where occurred_at < {{ as_of_cutoff() }}
    group by cast(occurred_at as date)
),

resolutions as (
    select
        cast(resolved_at as date) as resolved_on,
        count(*) as complaints_resolved,
        avg({{ dbt.datediff('occurred_at', 'resolved_at', 'minute') }} / 60e0) as avg_resolution_hours  -- noqa: LT05
    from {{ ref('fct_interactions') }}
    where is_complaint and resolved_at < {{ as_of_cutoff() }}
    group by cast(resolved_at as date)
),

clv as (
    -- one row per scored date, kept for ever: a night's own scores are kept for a while only
    select
        as_of_date,
        avg_clv_net_36m,
        avg_attrition_risk
    from {{ source('scores', 'score_summary') }}
    where as_of_date <= {{ as_of_date() }}
),

combined as (
    select
        spine.kpi_date,
        running.customers,
        running.active_customers,
        running.new_customers,
        running.lapsed_customers,
        running.won_back_customers,
        sum(running.lapsed_customers) over (order by spine.kpi_date rows between 29 preceding and current row)
            as lapsed_customers_30d,
        lag(running.active_customers, 30) over (order by spine.kpi_date) as active_customers_30d_ago,
        coalesce(revenue.transaction_count, 0) as transaction_count,
        coalesce(revenue.revenue, 0) as revenue,
        clv.avg_clv_net_36m,
        clv.avg_attrition_risk,
        coalesce(interactions.interactions, 0) as interactions,
        coalesce(interactions.complaints, 0) as complaints,
        coalesce(resolutions.complaints_resolved, 0) as complaints_resolved,
        resolutions.avg_resolution_hours
    from spine
    inner join running on spine.kpi_date = running.event_date
    left join revenue on spine.kpi_date = revenue.occurred_on
    left join interactions on spine.kpi_date = interactions.occurred_on
    left join resolutions on spine.kpi_date = resolutions.resolved_on
    left join clv on spine.kpi_date = clv.as_of_date
)

select
    kpi_date,
    cast(customers as {{ dbt.type_bigint() }}) as customers,
    cast(active_customers as {{ dbt.type_bigint() }}) as active_customers,
    cast(new_customers as {{ dbt.type_bigint() }}) as new_customers,
    cast(lapsed_customers as {{ dbt.type_bigint() }}) as lapsed_customers,
    cast(won_back_customers as {{ dbt.type_bigint() }}) as won_back_customers,
    cast(lapsed_customers_30d as {{ double }}) / nullif(active_customers_30d_ago, 0)
        as attrition_rate_30d,
    1 - cast(lapsed_customers_30d as {{ double }}) / nullif(active_customers_30d_ago, 0)
        as retention_rate_30d,
    cast(transaction_count as {{ dbt.type_bigint() }}) as transaction_count,
    cast(revenue as decimal(38, 2)) as revenue,
    cast(avg_clv_net_36m as {{ double }}) as avg_clv_net_36m,
    cast(avg_attrition_risk as {{ double }}) as avg_attrition_risk,
    cast(interactions as {{ dbt.type_bigint() }}) as interactions,
    cast(complaints as {{ dbt.type_bigint() }}) as complaints,
    cast(complaints as {{ double }}) / nullif(interactions, 0) as complaint_rate,
    cast(complaints_resolved as {{ dbt.type_bigint() }}) as complaints_resolved,
    cast(avg_resolution_hours as {{ double }}) as avg_resolution_hours
from combined
