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
    The segment of every customer and scheme on every evaluation date, with the start of its
    stay: what marts.customer_segment_history keeps as spells. A night recomputes the
    evaluation dates from int_segment_recompute_from on (see macros/incremental.sql) and
    continues each customer's schemes from the last row it keeps:
    every customer has a row in every scheme on every evaluation date from its first sight
    (value_tier: on every scored date), so that row is on the scheme's last kept date.
-#}
-- depends_on: {{ ref('int_segment_recompute_from') }}
with

recomputed as (
    select
        customer_key,
        as_of_date,
        scheme,
        segment,
        segment_detail,
        segment_score
    from {{ ref('int_customer_segments_by_date') }}
    where as_of_date >= {{ cif.first_recomputed_date() }}
),

{% if is_incremental() %}
    -- each customer's and scheme's last row kept: the stay the recomputed dates continue
    kept as (
        select
            kept.customer_key,
            kept.scheme,
            kept.as_of_date,
            kept.segment,
            kept.segment_since
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
    ),
{% endif %}

-- Evaluation dates recomputed tonight: one on most nights, when each customer's scheme has a
-- single recomputed row that continues its kept row, and the windows below have nothing to
-- order. DuckDB's windows cost about 0.5 us a row even over one-row partitions: at 1M
-- customers (6.6M rows a night) the two took 7 of the query's 17 s of CPU.
recomputed_dates as (
    select count(distinct as_of_date) as dates from recomputed
),

-- Windows over the recomputed rows only; the first of each customer's scheme takes its
-- predecessor from the kept row. Windowing kept and recomputed rows together sorted twice as
-- many rows: at 1M customers 19 s of CPU against 14.5 s.
compared as (
    select
        *,
        lag(segment) over by_date as previous_recomputed_segment,
        lag(as_of_date) over by_date as previous_recomputed_date
    from recomputed
    where (select recomputed_dates.dates from recomputed_dates) > 1
    window by_date as (partition by customer_key, scheme order by as_of_date)
    union all
    select
        *,
        cast(null as {{ dbt.type_string() }}) as previous_recomputed_segment,
        cast(null as date) as previous_recomputed_date
    from recomputed
    where (select recomputed_dates.dates from recomputed_dates) = 1
),

continued as (
    select
        compared.customer_key,
        compared.as_of_date,
        compared.scheme,
        compared.segment,
        compared.segment_detail,
        compared.segment_score,
        {% if is_incremental() %}
            case
                when compared.previous_recomputed_date is null then kept.segment
                else compared.previous_recomputed_segment
            end as previous_segment,
            coalesce(compared.previous_recomputed_date, kept.as_of_date) as previous_as_of_date,
            kept.segment_since as kept_segment_since
        {% else %}
            compared.previous_recomputed_segment as previous_segment,
            compared.previous_recomputed_date as previous_as_of_date,
            cast(null as date) as kept_segment_since
        {% endif %}
    from compared
    {% if is_incremental() %}
        left join kept
            on compared.customer_key = kept.customer_key and compared.scheme = kept.scheme
    {% endif %}
),

spells as (
    select
        *,
        -- the date a stay in a segment began, on the row where it began
        case
            when previous_segment is null or previous_segment <> segment then as_of_date
        end as spell_start
    from continued
),

-- dates only grow within a scheme, so the latest start so far is the current stay's
stays as (
    select
        *,
        max(spell_start) over (
            partition by customer_key, scheme order by as_of_date rows between unbounded preceding and current row
        ) as latest_spell_start
    from spells
    where (select recomputed_dates.dates from recomputed_dates) > 1
    union all
    select
        *,
        spell_start as latest_spell_start
    from spells
    where (select recomputed_dates.dates from recomputed_dates) = 1
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
    coalesce(previous_segment is not null and previous_segment <> segment, false) as is_change,
    -- no start among the recomputed rows yet: the kept row's stay goes on
    coalesce(latest_spell_start, kept_segment_since) as segment_since
from stays
order by customer_key, scheme, as_of_date
