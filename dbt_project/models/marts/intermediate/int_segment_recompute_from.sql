{#-
    The first evaluation date whose segments this build computes, and the first evaluation date
    of the history (one row); the segment history keeps its rows between the two. A full build
    computes every date. Otherwise: the as-of date, or the first date whose inputs' fingerprint
    differs from the last build's (a late-known or corrected fact, a merge moving a customer's
    facts, a new or changed golden record, an evaluation date that came or went), whichever is
    first. A changed date and kind is in both `added` and `removed`; a new one only in
    `added`, a vanished one only in `removed`. Rows of earlier dates depend only on inputs up to their date, so they stand as a full
    build would make them; except that month-ends leaving the window before the first date
    kept take the start of each stay with them (customer_segment_history's pre-hook).
-#}
{%- set last_build = adapter.get_relation(
    database=this.database, schema=this.schema, identifier="int_segment_inputs_of_last_build"
) -%}
{%- set comparable = not flags.FULL_REFRESH and last_build is not none and execute and (
    adapter.get_columns_in_relation(last_build) | map(attribute="name") | list
    == adapter.get_columns_in_relation(ref("int_segment_inputs")) | map(attribute="name") | list
) -%}
-- depends_on: {{ ref('int_segment_inputs') }}
{% if not comparable -%}
    select
        cast('{{ var("plausible_from") }}' as date) as recompute_from,
        cast('{{ var("plausible_from") }}' as date) as history_starts_on
{%- else %}
    with

    current_inputs as (
        select * from {{ ref('int_segment_inputs') }}
    ),

    added as (
        select * from current_inputs
        {{ dbt.except() }}
        select * from {{ last_build }}
    ),

    removed as (
        select * from {{ last_build }}
        {{ dbt.except() }}
        select * from current_inputs
    ),

    history_window as (
        select min(input_date) as history_starts_on
        from current_inputs
        where input_kind = 'evaluation date'
    ),

    first_change as (
        select min(input_date) as changed_from
        from (
            select input_date from added
            union all
            -- evaluation dates before the first one kept only leave: nothing is recomputed
            select removed.input_date from removed
            cross join history_window
            where
                removed.input_kind <> 'evaluation date'
                or removed.input_date >= history_window.history_starts_on
        ) as changes
    )

    select
        case
            when first_change.changed_from < {{ as_of_date() }} then first_change.changed_from
            else {{ as_of_date() }}
        end as recompute_from,
        history_window.history_starts_on
    from first_change
    cross join history_window
{%- endif %}
