{%- set double = api.Column.translate_type('double') -%}
{#-
    E-mail campaign responses by the recipients' current segment (life cycle, value tier, RFM)
    and preferred channel: sends, opens, clicks, unsubscribes, and purchases within 14 days of a send.
-#}
with

events as (
    select
        identity_map.customer_key,
        events.campaign_id,
        events.event_type,
        events.occurred_at
    from {{ ref('stg_email__events') }} as events
    inner join {{ source('core', 'customer_identity_map') }} as identity_map
        on
            events.source_system = identity_map.source_system
            and events.source_customer_id = identity_map.source_customer_id
    where events.campaign_id is not null
),

recipients as (
    select
        customer_key,
        campaign_id,
        min(case when event_type = 'send' then occurred_at end) as sent_at,
        max(case when event_type = 'send' then 1 else 0 end) as was_sent,
        max(case when event_type = 'open' then 1 else 0 end) as opened,
        max(case when event_type = 'click' then 1 else 0 end) as clicked,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) as unsubscribed
    from events
    group by customer_key, campaign_id
),

converted as (
    select
        recipients.customer_key,
        recipients.campaign_id,
        max(case when txn.customer_key is not null then 1 else 0 end) as purchased,
        coalesce(sum(txn.amount), 0) as revenue
    from recipients
    left join {{ ref('fct_transactions') }} as txn
        on
            recipients.customer_key = txn.customer_key
            and recipients.sent_at <= txn.occurred_at
            and txn.occurred_at < {{ dbt.dateadd('day', 14, 'recipients.sent_at') }}
            and txn.amount > 0
    group by recipients.customer_key, recipients.campaign_id
),

segments as (
    select
        customer_key,
        scheme,
        segment
    from {{ ref('customer_segments') }}
    where scheme in ('life_cycle', 'value_tier', 'rfm')
),

channels as (
    select
        customer_key,
        segment as preferred_channel
    from {{ ref('customer_segments') }}
    where scheme = 'preferred_channel'
)

select
    recipients.campaign_id,
    segments.scheme,
    segments.segment,
    coalesce(channels.preferred_channel, 'none') as preferred_channel,
    min(recipients.sent_at) as first_sent_at,
    count(*) as recipients,
    cast(sum(recipients.was_sent) as {{ dbt.type_bigint() }}) as sends,
    cast(sum(recipients.opened) as {{ dbt.type_bigint() }}) as opens,
    cast(sum(recipients.clicked) as {{ dbt.type_bigint() }}) as clicks,
    cast(sum(recipients.unsubscribed) as {{ dbt.type_bigint() }}) as unsubscribes,
    cast(sum(converted.purchased) as {{ dbt.type_bigint() }}) as purchasers_14d,
    cast(sum(converted.revenue) as decimal(38, 2)) as revenue_14d,
    cast(sum(recipients.opened) as {{ double }}) / nullif(sum(recipients.was_sent), 0) as open_rate,
    cast(sum(recipients.clicked) as {{ double }}) / nullif(sum(recipients.was_sent), 0) as click_rate,
    cast(sum(converted.purchased) as {{ double }}) / nullif(sum(recipients.was_sent), 0)
        as conversion_rate_14d
from recipients
inner join converted
    on recipients.customer_key = converted.customer_key and recipients.campaign_id = converted.campaign_id
inner join segments on recipients.customer_key = segments.customer_key
left join channels on recipients.customer_key = channels.customer_key
group by recipients.campaign_id, segments.scheme, segments.segment, coalesce(channels.preferred_channel, 'none')
