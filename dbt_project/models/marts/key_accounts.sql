{#- Key accounts by the configurable criteria in dbt_project.yml (key_account_*): any one makes a customer key. -#}
with

customers as (
    select customer_key
    from {{ ref('dim_customer') }}
    where is_current
),

scores as (
    select
        customer_key,
        clv_net_36m
    from {{ source('scores', 'customer_scores') }}
    where as_of_date = {{ as_of_date() }}
),

clv_ranked as (
    select
        customer_key,
        clv_net_36m,
        coalesce(sum(clv_net_36m) over (
            order by clv_net_36m desc, customer_key asc rows between unbounded preceding and 1 preceding
        ), 0) as clv_before,
        sum(clv_net_36m) over () as clv_total
    from scores
    where clv_net_36m > 0
),

revenue as (
    select
        customer_key,
        sum(amount) as revenue_365d
    from {{ ref('fct_transactions') }}
    where
        occurred_on <= {{ as_of_date() }}
        and occurred_on > {{ dbt.dateadd('day', -365, as_of_date()) }}
    group by customer_key
),

products as (
    select
        customer_key,
        count(distinct product) as products_held
    from {{ ref('int_customer_products') }}
    where opened_on <= {{ as_of_date() }} and closed_on is null
    group by customer_key
),

managed as (
    select * from {{ ref('int_key_account_institutions') }}
),

current_targets as (
    select
        customer_key,
        ka_id,
        period,
        revenue_target,
        revenue_actual,
        revenue_attainment,
        products_target,
        products_actual,
        share_of_wallet_target,
        share_of_wallet_actual,
        row_number() over (partition by customer_key, ka_id order by period_start desc) as period_rank
    from {{ ref('key_account_performance') }}
    where period_start <= {{ as_of_date() }}
),

evaluated as (
    select
        customers.customer_key,
        managed.ka_id,
        case when managed.ka_id is not null then 'institution' else 'person' end as customer_type,
        managed.organisation_type,
        managed.sector,
        managed.account_manager,
        clv_ranked.clv_net_36m,
        clv_ranked.clv_before / nullif(clv_ranked.clv_total, 0) as clv_share_before,
        coalesce(revenue.revenue_365d, 0) as revenue_365d,
        coalesce(products.products_held, 0) as products_held,
        coalesce(
            clv_ranked.clv_before < {{ var('key_account_clv_share') }} * clv_ranked.clv_total, false
        ) as meets_clv_share,
        coalesce(revenue.revenue_365d >= {{ var('key_account_revenue_threshold') }}, false) as meets_revenue,
        coalesce(products.products_held >= {{ var('key_account_min_products') }}, false) as meets_products,
        {% if var('key_account_include_managed') -%}
            managed.ka_id is not null
        {%- else -%}
            false
        {%- endif %} as meets_managed
    from customers
    left join clv_ranked on customers.customer_key = clv_ranked.customer_key
    left join revenue on customers.customer_key = revenue.customer_key
    left join products on customers.customer_key = products.customer_key
    left join managed on customers.customer_key = managed.customer_key
)

select
    evaluated.customer_key,
    {{ as_of_date() }} as as_of_date,
    evaluated.ka_id,
    evaluated.customer_type,
    evaluated.organisation_type,
    evaluated.sector,
    evaluated.account_manager,
    evaluated.clv_net_36m,
    evaluated.clv_share_before,
    cast(evaluated.revenue_365d as decimal(38, 2)) as revenue_365d,
    evaluated.products_held,
    evaluated.meets_clv_share,
    evaluated.meets_revenue,
    evaluated.meets_products,
    evaluated.meets_managed,
    replace(trim({{ dbt.concat([
        "case when evaluated.meets_clv_share then 'top_clv_share ' else '' end",
        "case when evaluated.meets_revenue then 'revenue ' else '' end",
        "case when evaluated.meets_products then 'products ' else '' end",
        "case when evaluated.meets_managed then 'managed ' else '' end",
    ]) }}), ' ', ', ') as key_criteria,
    current_targets.period as current_period,
    current_targets.revenue_target,
    current_targets.revenue_actual,
    current_targets.revenue_attainment,
    current_targets.products_target,
    current_targets.products_actual,
    current_targets.share_of_wallet_target,
    current_targets.share_of_wallet_actual
from evaluated
left join current_targets
    on
        evaluated.customer_key = current_targets.customer_key
        -- the targets of the key account that represents the customer (two institution
        -- records found to be one customer have a performance row each)
        and evaluated.ka_id = current_targets.ka_id
        and current_targets.period_rank = 1
where
    evaluated.meets_clv_share
    or evaluated.meets_revenue
    or evaluated.meets_products
    or evaluated.meets_managed
