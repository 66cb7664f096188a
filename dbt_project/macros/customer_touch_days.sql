{#- Every touch of a customer (a purchase or an interaction) by channel and day: what the
    channel segments count, and what the segment history compares night to night. -#}
{% macro customer_touch_days() -%}
    select
        customer_key,
        channel,
        cast(occurred_at as date) as occurred_on
    from {{ ref('fct_transactions') }}
    union all
    select
        customer_key,
        channel,
        cast(occurred_at as date) as occurred_on
    from {{ ref('fct_interactions') }}
{%- endmacro %}
