{#-
    The first evaluation date whose segments this build computes (one row); the segment
    history keeps its rows before it. A full build computes every date. Otherwise: the as-of
    date, or the first date of an input that differs from the last build's copy (a late-known
    or corrected fact, a merge moving a customer's facts, a new or changed golden record, an
    evaluation date that came or went), whichever is first. Rows of earlier dates depend only on
    inputs up to their date, so they stand as a full build would make them.
-#}
{%- set last_build = adapter.get_relation(
    database=this.database, schema=this.schema, identifier="int_segment_inputs_of_last_build"
) -%}
{%- set comparable = last_build is not none and execute and (
    adapter.get_columns_in_relation(last_build) | map(attribute="name") | list
    == adapter.get_columns_in_relation(ref("int_segment_inputs")) | map(attribute="name") | list
) -%}
-- depends_on: {{ ref('int_segment_inputs') }}
{% if flags.FULL_REFRESH or not comparable -%}
    select cast('{{ var("plausible_from") }}' as date) as recompute_from
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

    first_change as (
        select min(input_date) as changed_from
        from (
            select input_date from added
            union all
            select input_date from removed
        ) as changes
    )

    select
        case
            when changed_from < {{ as_of_date() }} then changed_from
            else {{ as_of_date() }}
        end as recompute_from
    from first_change
{%- endif %}
