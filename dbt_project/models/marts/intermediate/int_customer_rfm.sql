{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        pre_hook="{{ cif.keep_only_recomputed_dates() }}",
    )
}}
{#-
    Classic RFM per purchaser and evaluation date: recency (days since the last purchase),
    frequency (purchase days) and monetary (revenue) in the last 365 days, each scored 1-5 by
    quintile (ties share a score), and the named segment from the recency x frequency grid.
-#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

purchasers as (
    select
        customer_key,
        as_of_date,
        days_since_last_purchase,
        purchase_days_365d,
        revenue_365d
    from {{ ref('int_customer_lifecycle') }}
    where last_purchase_on is not null and as_of_date >= {{ cif.first_recomputed_date() }}
),

scored as (
    select
        customer_key,
        as_of_date,
        days_since_last_purchase,
        purchase_days_365d,
        revenue_365d,
        least(5, 1 + cast(floor(5 * percent_rank() over (
            partition by as_of_date order by days_since_last_purchase desc
        )) as {{ dbt.type_int() }})) as recency_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (
            partition by as_of_date order by purchase_days_365d
        )) as {{ dbt.type_int() }})) as frequency_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (
            partition by as_of_date order by revenue_365d
        )) as {{ dbt.type_int() }})) as monetary_score
    from purchasers
)

select
    customer_key,
    as_of_date,
    days_since_last_purchase,
    purchase_days_365d,
    revenue_365d,
    recency_score,
    frequency_score,
    monetary_score,
    {{ dbt.concat([
        dbt.cast('recency_score', dbt.type_string()),
        dbt.cast('frequency_score', dbt.type_string()),
        dbt.cast('monetary_score', dbt.type_string()),
    ]) }} as rfm_cell,
    case
        when recency_score = 5 and frequency_score >= 4 then 'champions'
        when recency_score >= 3 and frequency_score >= 4 then 'loyal customers'
        when recency_score >= 4 and frequency_score >= 2 then 'potential loyalists'
        when recency_score = 5 then 'new customers'
        when recency_score = 4 then 'promising'
        when recency_score = 3 and frequency_score >= 2 then 'need attention'
        when recency_score = 3 then 'about to sleep'
        when frequency_score = 5 then 'cannot lose them'
        when frequency_score >= 3 then 'at risk'
        else 'hibernating'
    end as rfm_segment
from scored
