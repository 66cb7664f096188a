{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        pre_hook="{{ cif.keep_only_recomputed_dates() }}",
    )
}}
{#- Purchase history and life-cycle stage per customer and evaluation date (rules: dbt_project.yml). -#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

dates as (
    select as_of_date from {{ ref('int_segment_dates') }}
    where as_of_date >= {{ cif.first_recomputed_date() }}
),

purchase_days as (
    select
        customer_key,
        occurred_on as purchase_on,
        sum(amount) as revenue
    from {{ ref('fct_transactions') }}
    where amount > 0 and occurred_on <= {{ as_of_date() }}
    group by customer_key, occurred_on
),

gaps as (
    select
        customer_key,
        purchase_on,
        revenue,
        {{ dbt.datediff(
            'lag(purchase_on) over (partition by customer_key order by purchase_on)', 'purchase_on', 'day'
        ) }} as days_since_previous
    from purchase_days
),

first_seen as (
    select
        customer_key,
        min(seen_on) as first_seen_on
    from (
        select
            customer_key,
            cast(valid_from as date) as seen_on
        from {{ ref('dim_customer') }}
        union all
        select
            customer_key,
            purchase_on as seen_on
        from purchase_days
    ) as sightings
    group by customer_key
),

customer_dates as (
    select
        first_seen.customer_key,
        dates.as_of_date,
        first_seen.first_seen_on
    from first_seen
    inner join dates on first_seen.first_seen_on <= dates.as_of_date
),

purchases_by_date as (
    select
        dates.as_of_date,
        gaps.customer_key,
        min(gaps.purchase_on) as first_purchase_on,
        max(gaps.purchase_on) as last_purchase_on,
        count(*) as purchase_days,
        max(
            case when gaps.days_since_previous > {{ var('lifecycle_lapsed_days') }} then gaps.purchase_on end
        ) as last_return_on,
        sum(
            case
                when gaps.purchase_on > {{ dbt.dateadd('day', -365, 'dates.as_of_date') }} then 1 else 0
            end
        ) as purchase_days_365d,
        sum(
            case
                when gaps.purchase_on > {{ dbt.dateadd('day', -365, 'dates.as_of_date') }} then gaps.revenue else 0
            end
        ) as revenue_365d
    from gaps
    inner join dates on gaps.purchase_on <= dates.as_of_date
    group by dates.as_of_date, gaps.customer_key
),

joined as (
    select
        customer_dates.customer_key,
        customer_dates.as_of_date,
        customer_dates.first_seen_on,
        purchases.first_purchase_on,
        purchases.last_purchase_on,
        purchases.last_return_on,
        coalesce(purchases.purchase_days, 0) as purchase_days,
        coalesce(purchases.purchase_days_365d, 0) as purchase_days_365d,
        coalesce(purchases.revenue_365d, 0) as revenue_365d,
        {{ cif.days_between('purchases.last_purchase_on', 'customer_dates.as_of_date') }}
            as days_since_last_purchase,
        {{ cif.days_between('purchases.first_purchase_on', 'customer_dates.as_of_date') }}
            as days_since_first_purchase,
        {{ cif.days_between('purchases.last_return_on', 'customer_dates.as_of_date') }}
            as days_since_return,
        scores.attrition_risk
    from customer_dates
    left join purchases_by_date as purchases
        on
            customer_dates.customer_key = purchases.customer_key
            and customer_dates.as_of_date = purchases.as_of_date
    left join {{ source('scores', 'customer_scores') }} as scores
        on
            customer_dates.customer_key = scores.customer_key
            and customer_dates.as_of_date = scores.as_of_date
)

select
    customer_key,
    as_of_date,
    first_seen_on,
    first_purchase_on,
    last_purchase_on,
    last_return_on,
    purchase_days,
    purchase_days_365d,
    cast(revenue_365d as decimal(38, 2)) as revenue_365d,
    days_since_last_purchase,
    attrition_risk,
    case
        when last_purchase_on is null then 'prospect'
        when days_since_last_purchase > {{ var('lifecycle_lapsed_days') }} then 'lapsed'
        when
            days_since_last_purchase > {{ var('lifecycle_at_risk_days') }}
            or attrition_risk >= {{ var('lifecycle_at_risk_attrition') }}
            then 'at risk'
        when days_since_return <= {{ var('lifecycle_won_back_days') }} then 'won back'
        when days_since_first_purchase < {{ var('lifecycle_new_days') }} then 'new'
        else 'active'
    end as life_cycle_stage
from joined
