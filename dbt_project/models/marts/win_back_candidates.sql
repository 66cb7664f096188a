{%- set double = api.Column.translate_type('double') -%}
{#-
    Lapsed and at-risk customers ranked by the value at stake: the revenue of their last active
    year (365 days up to the last purchase) plus the net 36-month CLV still expected.
-#}
with

stages as (
    select *
    from {{ ref('int_customer_lifecycle') }}
    where as_of_date = {{ as_of_date() }} and life_cycle_stage in ('lapsed', 'at risk')
),

last_year_revenue as (
    select
        stages.customer_key,
        sum(txn.amount) as revenue_last_active_year
    from stages
    inner join {{ ref('fct_transactions') }} as txn
        on
            stages.customer_key = txn.customer_key
            and stages.last_purchase_on >= txn.occurred_on
            and txn.occurred_on > {{ dbt.dateadd('day', -365, 'stages.last_purchase_on') }}
    group by stages.customer_key
),

touches as (
    select
        customer_key,
        channel,
        interaction_type,
        occurred_at,
        row_number() over (partition by customer_key order by occurred_at desc, channel asc, interaction_type asc)
            as touch_rank
    from {{ ref('int_customer_touches') }}
    where channel <> 'email'
),

scores as (
    select
        customer_key,
        clv_net_36m,
        p_alive
    from {{ source('scores', 'customer_scores') }}
    where as_of_date = {{ as_of_date() }}
),

valued as (
    select
        stages.customer_key,
        stages.life_cycle_stage,
        stages.last_purchase_on,
        stages.days_since_last_purchase,
        stages.purchase_days,
        cast(coalesce(last_year_revenue.revenue_last_active_year, 0) as decimal(38, 2))
            as revenue_last_active_year,
        scores.clv_net_36m,
        scores.p_alive,
        cast(coalesce(last_year_revenue.revenue_last_active_year, 0) as {{ double }})
        + greatest(coalesce(scores.clv_net_36m, 0), 0) as value_at_stake,
        last_touch.occurred_at as last_interaction_at,
        last_touch.channel as last_interaction_channel,
        last_touch.interaction_type as last_interaction_type,
        coalesce(experience.complaints, 0) as complaints,
        coalesce(experience.unresolved_complaints, 0) as unresolved_complaints,
        experience.avg_satisfaction,
        experience.experience_rating
    from stages
    left join last_year_revenue on stages.customer_key = last_year_revenue.customer_key
    left join scores on stages.customer_key = scores.customer_key
    left join touches as last_touch
        on stages.customer_key = last_touch.customer_key and last_touch.touch_rank = 1
    left join {{ ref('customer_experience') }} as experience
        on stages.customer_key = experience.customer_key
)

select
    *,
    cast(row_number() over (order by value_at_stake desc, customer_key asc) as {{ dbt.type_bigint() }}) as win_back_rank
from valued
