{%- set double = api.Column.translate_type('double') -%}
{#- Actual vs target per key account and quarter (targets: the key-account management system). -#}
with

targets as (
    select
        targets.*,
        cast(
            {{ dbt.concat([
                "substr(targets.period, 1, 4)",
                "'-'",
                "case substr(targets.period, 7, 1) when '1' then '01' when '2' then '04' when '3' then '07' else '10' end",
                "'-01'",
            ]) }} as date
        ) as period_start
    from {{ ref('stg_kam__targets') }} as targets
),

periods as (
    select
        identity_map.customer_key,
        targets.source_customer_id as ka_id,
        targets.period,
        targets.period_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, 'targets.period_start')) }} as date) as period_end,
        targets.account_manager,
        targets.set_on as target_set_on,
        targets.revenue_target,
        targets.products_target,
        targets.share_of_wallet_target,
        targets.wallet_estimate
    from targets
    inner join {{ source('core', 'customer_identity_map') }} as identity_map
        on
            targets.source_system = identity_map.source_system
            and targets.source_customer_id = identity_map.source_customer_id
    where targets.period_start <= {{ as_of_date() }}
),

measured_until as (
    select
        *,
        case when period_end < {{ as_of_date() }} then period_end else {{ as_of_date() }} end as measured_until,
        {{ dbt.datediff('period_start', 'period_end', 'day') }} + 1 as period_days,  -- noqa: LT05
        {{ dbt.datediff('period_start', 'least(period_end, ' ~ as_of_date() ~ ')', 'day') }} + 1 as elapsed_days  -- noqa: LT05
    from periods
),

revenue as (
    select
        measured_until.customer_key,
        measured_until.period,
        sum(txn.amount) as revenue_actual
    from measured_until
    inner join {{ ref('fct_transactions') }} as txn
        on
            measured_until.customer_key = txn.customer_key
            and measured_until.period_start <= txn.occurred_on
            and measured_until.measured_until >= txn.occurred_on
    group by measured_until.customer_key, measured_until.period
),

products as (
    select
        measured_until.customer_key,
        measured_until.period,
        count(distinct held.product) as products_actual
    from measured_until
    inner join {{ ref('int_customer_products') }} as held
        on
            measured_until.customer_key = held.customer_key
            and measured_until.measured_until >= held.opened_on
            and (held.closed_on is null or measured_until.measured_until < held.closed_on)
    group by measured_until.customer_key, measured_until.period
),

actuals as (
    select
        measured_until.*,
        cast(coalesce(revenue.revenue_actual, 0) as decimal(38, 2)) as revenue_actual,
        coalesce(products.products_actual, 0) as products_actual,
        measured_until.period_end <= {{ as_of_date() }} as is_period_complete,
        cast(measured_until.elapsed_days as {{ double }}) / measured_until.period_days
            as period_elapsed_share
    from measured_until
    left join revenue
        on measured_until.customer_key = revenue.customer_key and measured_until.period = revenue.period
    left join products
        on measured_until.customer_key = products.customer_key and measured_until.period = products.period
),

attained as (
    select
        *,
        cast(revenue_actual as {{ double }}) / nullif(revenue_target, 0) as revenue_attainment,
        cast(products_actual as {{ double }}) / nullif(products_target, 0) as products_attainment,
        cast(revenue_actual as {{ double }}) / nullif(wallet_estimate, 0) as share_of_wallet_actual
    from actuals
),

trended as (
    select
        *,
        lag(revenue_actual) over (partition by customer_key, ka_id order by period_start) as previous_revenue_actual,
        lag(revenue_attainment) over (partition by customer_key, ka_id order by period_start)
            as previous_revenue_attainment
    from attained
)

select
    customer_key,
    ka_id,
    period,
    period_start,
    period_end,
    is_period_complete,
    period_elapsed_share,
    account_manager,
    target_set_on,
    revenue_target,
    revenue_actual,
    revenue_attainment,
    revenue_attainment / nullif(period_elapsed_share, 0) as revenue_run_rate_attainment,
    products_target,
    products_actual,
    products_attainment,
    share_of_wallet_target,
    wallet_estimate,
    share_of_wallet_actual,
    share_of_wallet_actual - share_of_wallet_target as share_of_wallet_gap,
    previous_revenue_actual,
    cast(revenue_actual as {{ double }}) / nullif(previous_revenue_actual, 0) - 1 as revenue_growth,
    case
        when previous_revenue_attainment is null or revenue_attainment is null then 'first period'
        when not is_period_complete then 'in progress'
        when revenue_attainment > previous_revenue_attainment + 0.05 then 'improving'
        when revenue_attainment < previous_revenue_attainment - 0.05 then 'declining'
        else 'stable'
    end as attainment_trend
from trended
