{{
    config(
        materialized="incremental",
        incremental_strategy=cif_incremental_strategy(),
        unique_key=["customer_key", "scheme", "valid_from"],
        pre_hook="{{ cif.delete_respelled_spells() }}",
        on_schema_change="fail",
    )
}}
{#-
    The segment history as spells: one row per customer, scheme and uninterrupted stay in a
    segment, from the evaluation date it began (valid_from) to the evaluation date the next
    stay began (valid_to, exclusive; null while it lasts). A night writes only the spells it
    changed (macros/incremental.sql): the stays that began on a recomputed date, and the spell
    each customer's scheme was in before them, whose end may have moved.
-#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

recomputed as (
    select
        customer_key,
        scheme,
        as_of_date,
        segment,
        previous_segment,
        segment_since
    from {{ ref('int_customer_segment_stays') }}
    where as_of_date >= {{ cif.first_respelled_date() }}
),

-- stays that began on a recomputed date (all of them on a full build)
started as (
    select
        customer_key,
        scheme,
        segment_since as valid_from,
        min(segment) as segment,
        max(case when as_of_date = segment_since then previous_segment end) as previous_segment
    from recomputed
    where segment_since >= {{ cif.first_respelled_date() }}
    group by customer_key, scheme, segment_since
),

spells as (
    select
        customer_key,
        scheme,
        segment,
        valid_from,
        previous_segment
    from started
    {% if is_incremental() %}
        union all
        -- the spell each customer's scheme was in when the recomputed dates begin: its start
        -- and predecessor stand, its end is decided again
        select
            customer_key,
            scheme,
            segment,
            valid_from,
            previous_segment
        from {{ this }}
        where
            valid_from < {{ cif.first_respelled_date() }}
            and (valid_to is null or valid_to >= {{ cif.first_respelled_date() }})
    {% endif %}
),

dated as (
    select
        customer_key,
        scheme,
        segment,
        valid_from,
        lead(valid_from) over (partition by customer_key, scheme order by valid_from) as valid_to,
        previous_segment
    from spells
),

written as (
    select
        customer_key,
        scheme,
        segment,
        valid_from,
        valid_to,
        previous_segment,
        valid_to is null as is_current
    from dated
    {% if is_incremental() %}
        -- spells the night left as they were are not written again
        {{ dbt.except() }}
        select
            customer_key,
            scheme,
            segment,
            valid_from,
            valid_to,
            previous_segment,
            is_current
        from {{ this }}
    {% endif %}
)

select * from written
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by customer_key, scheme, valid_from
