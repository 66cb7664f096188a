{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        pre_hook=[
            "{{ cif.delete_recomputed_dates() }}",
            "{{ cif.forget_previous_before_first_date() }}",
            "{{ cif.start_stays_on_first_date() }}",
        ],
        on_schema_change="fail",
    )
}}
{#-
    A night recomputes the evaluation dates from int_segment_recompute_from on (see
    macros/incremental.sql) and continues each customer's schemes from the last row it keeps:
    every customer has a row in every scheme on every evaluation date from its first sight
    (value_tier: on every scored date), so that row is on the scheme's last kept date.
-#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

segments as (
    select
        customer_key,
        as_of_date,
        scheme,
        segment,
        segment_detail,
        segment_score,
        cast(null as date) as kept_segment_since
    from {{ ref('int_customer_segments_by_date') }}
    where as_of_date >= {{ cif.first_recomputed_date() }}
    {% if is_incremental() %}

        union all

        select
            kept.customer_key,
            kept.as_of_date,
            kept.scheme,
            kept.segment,
            kept.segment_detail,
            kept.segment_score,
            kept.segment_since as kept_segment_since
        from {{ this }} as kept
        inner join (
            select
                scheme,
                max(as_of_date) as as_of_date
            from {{ this }}
            where
                as_of_date < {{ cif.first_recomputed_date() }}
                and as_of_date >= {{ cif.first_history_date() }}
            group by scheme
        ) as last_kept
            on kept.scheme = last_kept.scheme and kept.as_of_date = last_kept.as_of_date
    {% endif %}
),

compared as (
    select
        *,
        lag(segment) over (partition by customer_key, scheme order by as_of_date) as previous_segment,
        lag(as_of_date) over (partition by customer_key, scheme order by as_of_date) as previous_as_of_date
    from segments
),

spells as (
    select
        *,
        -- the date the stay in the segment began: a kept row's own, or this date on a change
        case
            when kept_segment_since is not null then kept_segment_since
            when previous_segment is null or previous_segment <> segment then as_of_date
        end as spell_start
    from compared
),

dated as (
    select
        customer_key,
        as_of_date,
        scheme,
        segment,
        segment_detail,
        segment_score,
        previous_segment,
        previous_as_of_date,
        kept_segment_since,
        coalesce(previous_segment is not null and previous_segment <> segment, false) as is_change,
        -- dates only grow within a scheme, so the latest start so far is the current stay's
        max(spell_start) over (
            partition by customer_key, scheme order by as_of_date rows between unbounded preceding and current row
        ) as segment_since
    from spells
)

select
    customer_key,
    as_of_date,
    scheme,
    segment,
    segment_detail,
    segment_score,
    previous_segment,
    previous_as_of_date,
    is_change,
    segment_since
from dated
-- the kept rows only carry the stay on: they are in the table already
where kept_segment_since is null
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by customer_key, scheme, as_of_date
