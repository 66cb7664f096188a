{%- set double = api.Column.translate_type('double') -%}
{#-
    Total customer experience: every touchpoint of a customer summarised, and a 0-100 score:
    start from satisfaction (1-5 mapped to 0-100, 70 when never rated), minus 10 per complaint
    still open, minus 5 per complaint, plus 10 x the first-contact resolution rate, within 0-100.
-#}
with

touches as (
    select * from {{ ref('int_customer_touches') }}
),

summary as (
    select
        customer_key,
        count(*) as touches,
        count(distinct channel) as channels_used,
        min(occurred_at) as first_touch_at,
        max(occurred_at) as last_touch_at,
        cast(sum(case when is_complaint then 1 else 0 end) as {{ dbt.type_bigint() }}) as complaints,
        cast(sum(case when is_complaint and resolved_at is null then 1 else 0 end) as {{ dbt.type_bigint() }})
            as unresolved_complaints,
        cast(
            avg(
                case
                    when is_complaint and resolved_at is not null
                        then {{ dbt.datediff('occurred_at', 'resolved_at', 'minute') }} / 60e0  -- noqa: LT05
                end
            ) as {{ double }}
        ) as avg_resolution_hours,
        cast(
            avg(case when first_contact_resolution then 1e0 when not first_contact_resolution then 0e0 end)
            as {{ double }}
        ) as first_contact_resolution_rate,
        cast(avg(satisfaction) as {{ double }}) as avg_satisfaction,
        count(satisfaction) as ratings,
        cast(sum(case when satisfaction <= 2 then 1 else 0 end) as {{ dbt.type_bigint() }}) as poor_ratings
    from touches
    group by customer_key
),

scored as (
    select
        *,
        greatest(
            0.0,
            least(
                100.0,
                coalesce((avg_satisfaction - 1) * 25.0, 70.0)
                - 10.0 * unresolved_complaints
                - 5.0 * complaints
                + 10.0 * coalesce(first_contact_resolution_rate, 0)
            )
        ) as experience_score
    from summary
)

select
    customer_key,
    touches,
    channels_used,
    first_touch_at,
    last_touch_at,
    complaints,
    unresolved_complaints,
    avg_resolution_hours,
    first_contact_resolution_rate,
    avg_satisfaction,
    ratings,
    poor_ratings,
    cast(experience_score as {{ double }}) as experience_score,
    case
        when experience_score >= 70 then 'good'
        when experience_score >= 45 then 'fair'
        else 'poor'
    end as experience_rating
from scored
