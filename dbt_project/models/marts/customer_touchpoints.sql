{%- set double = api.Column.translate_type('double') -%}
select
    customer_key,
    channel,
    count(*) as touches,
    cast(sum(case when is_complaint then 1 else 0 end) as {{ dbt.type_bigint() }}) as complaints,
    min(occurred_at) as first_touch_at,
    max(occurred_at) as last_touch_at,
    cast(avg(satisfaction) as {{ double }}) as avg_satisfaction
from {{ ref('int_customer_touches') }}
group by customer_key, channel
