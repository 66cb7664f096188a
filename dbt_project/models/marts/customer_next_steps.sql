{%- set double = api.Column.translate_type('double') -%}
{%- set text = dbt.type_string() -%}
{#-
    What to do next with each customer on the as-of date, the rule that chose it, and why the
    attrition risk is what it is, in plain words for the frontline. The first rule that holds wins
    (thresholds: next_step_* and lifecycle_* vars in dbt_project.yml):
      resolve_complaint  a complaint is still open
      win_back           lapsed: no purchase for more than lifecycle_lapsed_days
      retain             at risk (life cycle) or attrition risk at least next_step_high_risk
      grow               everyone else (a key account below its revenue target is told so)
-#}
with

customers as (
    select
        customer_key,
        value_segment,
        is_key_account,
        attrition_risk,
        clv_net_36m,
        rfm_frequency,
        rfm_recency_days
    from {{ ref('customer_360') }}
),

stages as (
    select
        customer_key,
        life_cycle_stage,
        days_since_last_purchase
    from {{ ref('int_customer_lifecycle') }}
    where as_of_date = {{ as_of_date() }}
),

spend as (
    select
        customer_key,
        sum(case when occurred_on > {{ dbt.dateadd('day', -365, as_of_date()) }} then amount else 0 end)
            as revenue_365d,
        sum(
            case
                when
                    occurred_on <= {{ dbt.dateadd('day', -365, as_of_date()) }}
                    and occurred_on > {{ dbt.dateadd('day', -730, as_of_date()) }}
                    then amount
                else 0
            end
        ) as revenue_prior_365d
    from {{ ref('fct_transactions') }}
    where amount > 0 and occurred_on <= {{ as_of_date() }}
    group by customer_key
),

open_complaints as (
    select
        customer_key,
        count(*) as open_complaints,
        cast(min(occurred_at) as date) as oldest_open_on
    from {{ ref('int_customer_touches') }}
    -- resolved after the as-of date: still open then
    where is_complaint and (resolved_at is null or resolved_at >= {{ as_of_cutoff() }})
    group by customer_key
),

facts as (
    select
        customers.*,
        stages.life_cycle_stage,
        stages.days_since_last_purchase,
        coalesce(open_complaints.open_complaints, 0) as open_complaints,
        open_complaints.oldest_open_on,
        experience.experience_rating,
        experience.experience_score,
        key_accounts.current_period,
        key_accounts.revenue_attainment,
        case
            when customers.rfm_frequency > 0 then customers.rfm_recency_days / customers.rfm_frequency
        end as usual_gap_days,
        cast(spend.revenue_365d as {{ double }}) / nullif(spend.revenue_prior_365d, 0) - 1 as spend_change
    from customers
    left join stages on customers.customer_key = stages.customer_key
    left join spend on customers.customer_key = spend.customer_key
    left join open_complaints on customers.customer_key = open_complaints.customer_key
    left join {{ ref('customer_experience') }} as experience on customers.customer_key = experience.customer_key
    left join {{ ref('key_accounts') }} as key_accounts on customers.customer_key = key_accounts.customer_key
),

signs as (
    select
        *,
        case
            when open_complaints > 0
                then {{ dbt.cast('open_complaints', text) }} || ' complaint(s) still open'
        end as sign_complaints,
        case
            when days_since_last_purchase > {{ var('lifecycle_at_risk_days') }}
                or days_since_last_purchase > 2 * usual_gap_days
                then 'no purchase for ' || {{ dbt.cast('days_since_last_purchase', text) }} || ' days'
                    || coalesce(
                        ' (usually every ' || {{ dbt.cast('cast(round(usual_gap_days) as integer)', text) }} || ')', ''
                    )
        end as sign_silence,
        case
            when spend_change <= -{{ var('next_step_spend_drop') }}
                then 'spend down ' || {{ dbt.cast('cast(round(-100 * spend_change) as integer)', text) }}
                    || '% on the year before'
        end as sign_spend,
        case
            when experience_rating = 'poor'
                then 'poor experience score ('
                    || {{ dbt.cast('cast(round(experience_score) as integer)', text) }} || '/100)'
        end as sign_experience
    from facts
),

explained as (
    select
        *,
        case
            when attrition_risk is null then 'not scored'
            when attrition_risk >= {{ var('next_step_high_risk') }} then 'high'
            when attrition_risk >= {{ var('next_step_medium_risk') }} then 'medium'
            else 'low'
        end as risk_level,
        {{ cif.trim_trailing(
            "coalesce(sign_complaints || '; ', '')"
            ~ " || coalesce(sign_silence || '; ', '')"
            ~ " || coalesce(sign_spend || '; ', '')"
            ~ " || coalesce(sign_experience || '; ', '')",
            "'; '"
        ) }} as warning_signs
    from signs
)

select
    customer_key,
    life_cycle_stage,
    attrition_risk,
    risk_level,
    case
        when attrition_risk is null and life_cycle_stage = 'prospect' then 'Not scored: no purchase history yet.'
        when attrition_risk is null then 'Not scored: too little purchase history to fit the models yet.'
        when warning_signs = ''
            then risk_level || ' risk ('
                || {{ dbt.cast('cast(round(100 * attrition_risk) as integer)', text) }}
                || '%): no warning sign; the model weighs tenure and purchase rhythm.'
        else risk_level || ' risk ('
            || {{ dbt.cast('cast(round(100 * attrition_risk) as integer)', text) }}
            || '%): ' || warning_signs || '.'
    end as attrition_reason,
    case
        when open_complaints > 0 then 'resolve the complaint'
        when life_cycle_stage = 'lapsed' then 'win back'
        when life_cycle_stage = 'at risk' or attrition_risk >= {{ var('next_step_high_risk') }} then 'retain'
        else 'grow'
    end as next_step,
    case
        when open_complaints > 0 then 'resolve_complaint'
        when life_cycle_stage = 'lapsed' then 'win_back'
        when life_cycle_stage = 'at risk' or attrition_risk >= {{ var('next_step_high_risk') }} then 'retain'
        when revenue_attainment < 1 then 'grow_key_account'
        else 'grow'
    end as next_step_rule,
    case
        when open_complaints > 0
            then {{ dbt.cast('open_complaints', text) }} || ' complaint(s) open, the oldest since '
                || {{ dbt.cast('oldest_open_on', text) }} || ': resolve it before anything else.'
        when life_cycle_stage = 'lapsed'
            then 'Lapsed: no purchase for ' || {{ dbt.cast('days_since_last_purchase', text) }}
                || ' days (more than {{ var("lifecycle_lapsed_days") }}).'
        when life_cycle_stage = 'at risk' or attrition_risk >= {{ var('next_step_high_risk') }}
            then coalesce(
                    'Attrition risk ' || {{ dbt.cast('cast(round(100 * attrition_risk) as integer)', text) }}
                    || '%, life cycle ',
                    'Life cycle '
                ) || life_cycle_stage || ': keep this '
                || coalesce(nullif(value_segment, 'not scored') || ' ', '') || 'customer.'
        when revenue_attainment < 1
            then 'Key account at ' || {{ dbt.cast('cast(round(100 * revenue_attainment) as integer)', text) }}
                || '% of its revenue target for ' || current_period || ': grow the relationship.'
        when life_cycle_stage = 'prospect' then 'No purchase yet: offer a first product.'
        else 'Life cycle ' || coalesce(life_cycle_stage, 'unknown') || ', ' || value_segment
            || ': offer the next product.'
    end as next_step_reason
from explained
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by customer_key
