{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        pre_hook="{{ cif.keep_only_recomputed_dates() }}",
    )
}}
{%- set double = api.Column.translate_type('double') -%}
{#- Every segmentation scheme per customer and evaluation date, one row per customer, date, scheme. -#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

lifecycle as (
    select * from {{ ref('int_customer_lifecycle') }}
    where as_of_date >= {{ cif.first_recomputed_date() }}
),

rfm as (
    select * from {{ ref('int_customer_rfm') }}
    where as_of_date >= {{ cif.first_recomputed_date() }}
),

scored as (
    select
        scores.customer_key,
        scores.as_of_date,
        scores.clv_net_36m,
        percent_rank() over (
            partition by scores.as_of_date order by coalesce(scores.clv_net_36m, 0)
        ) as clv_percentile
    from {{ source('scores', 'customer_scores') }} as scores
    inner join lifecycle
        on
            scores.customer_key = lifecycle.customer_key
            and scores.as_of_date = lifecycle.as_of_date
    where lifecycle.last_purchase_on is not null
),

-- a date without scores (too little history to fit the models): its purchasers are not scored
scored_dates as (
    select distinct as_of_date from scored
),

births as (
    select
        customer_key,
        date_of_birth
    from {{ ref('dim_customer') }}
    where is_current
),

activity as (
    {{ customer_touch_days() }}
),

channel_use as (
    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        activity.channel,
        count(*) as touches
    from lifecycle
    inner join activity
        on
            lifecycle.customer_key = activity.customer_key
            and lifecycle.as_of_date >= activity.occurred_on
    where activity.channel is not null
    group by lifecycle.customer_key, lifecycle.as_of_date, activity.channel
),

channel_ranked as (
    select
        customer_key,
        as_of_date,
        channel,
        touches,
        row_number() over (
            partition by customer_key, as_of_date order by touches desc, channel asc
        ) as channel_rank,
        count(*) over (partition by customer_key, as_of_date) as channels_used
    from channel_use
),

segments as (
    select
        customer_key,
        as_of_date,
        'life_cycle' as scheme,
        life_cycle_stage as segment,
        cast(days_since_last_purchase as {{ dbt.type_string() }}) as segment_detail,
        cast(days_since_last_purchase as {{ double }}) as segment_score
    from lifecycle

    union all

    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        'rfm' as scheme,
        coalesce(rfm.rfm_segment, 'prospect') as segment,
        rfm.rfm_cell as segment_detail,
        cast(100 * rfm.recency_score + 10 * rfm.frequency_score + rfm.monetary_score as {{ double }})
            as segment_score
    from lifecycle
    left join rfm
        on
            lifecycle.customer_key = rfm.customer_key
            and lifecycle.as_of_date = rfm.as_of_date

    union all

    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        'value_tier' as scheme,
        case
            when lifecycle.last_purchase_on is null then 'prospect'
            when scored_dates.as_of_date is null then 'not scored'
            when scored.clv_percentile >= {{ var('value_tier_top_percentile') }} then 'top value'
            when scored.clv_percentile >= {{ var('value_tier_mid_percentile') }} then 'mid value'
            else 'low value'
        end as segment,
        cast(scored.clv_net_36m as {{ dbt.type_string() }}) as segment_detail,
        scored.clv_percentile as segment_score
    from lifecycle
    left join scored
        on
            lifecycle.customer_key = scored.customer_key
            and lifecycle.as_of_date = scored.as_of_date
    left join scored_dates on lifecycle.as_of_date = scored_dates.as_of_date
    where
        scored_dates.as_of_date is not null
        or lifecycle.as_of_date = {{ as_of_date() }}

    union all

    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        'age_band' as scheme,
        case
            when births.age_years is null then 'unknown'
            when births.age_years < 25 then 'under 25'
            when births.age_years < 35 then '25-34'
            when births.age_years < 45 then '35-44'
            when births.age_years < 55 then '45-54'
            when births.age_years < 65 then '55-64'
            else '65 and over'
        end as segment,
        cast(births.age_years as {{ dbt.type_string() }}) as segment_detail,
        cast(births.age_years as {{ double }}) as segment_score
    from lifecycle
    left join (
        select
            births.customer_key,
            dates.as_of_date,
            floor({{ dbt.datediff('births.date_of_birth', 'dates.as_of_date', 'day') }} / 365.25) as age_years  -- noqa: LT05
        from births
        cross join {{ ref('int_segment_dates') }} as dates
        where births.date_of_birth <= dates.as_of_date and dates.as_of_date >= {{ cif.first_recomputed_date() }}
    ) as births
        on
            lifecycle.customer_key = births.customer_key
            and lifecycle.as_of_date = births.as_of_date

    union all

    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        'preferred_channel' as scheme,
        coalesce(channel_ranked.channel, 'none') as segment,
        cast(channel_ranked.touches as {{ dbt.type_string() }}) as segment_detail,
        cast(channel_ranked.touches as {{ double }}) as segment_score
    from lifecycle
    left join channel_ranked
        on
            lifecycle.customer_key = channel_ranked.customer_key
            and lifecycle.as_of_date = channel_ranked.as_of_date
            and channel_ranked.channel_rank = 1

    union all

    select
        lifecycle.customer_key,
        lifecycle.as_of_date,
        'channel_mix' as scheme,
        case
            when channel_ranked.channels_used is null then 'no activity'
            when channel_ranked.channels_used = 1 then 'single channel'
            else 'multi-channel'
        end as segment,
        cast(coalesce(channel_ranked.channels_used, 0) as {{ dbt.type_string() }}) as segment_detail,
        cast(coalesce(channel_ranked.channels_used, 0) as {{ double }}) as segment_score
    from lifecycle
    left join channel_ranked
        on
            lifecycle.customer_key = channel_ranked.customer_key
            and lifecycle.as_of_date = channel_ranked.as_of_date
            and channel_ranked.channel_rank = 1
)

select
    customer_key,
    as_of_date,
    scheme,
    segment,
    segment_detail,
    segment_score
from segments
