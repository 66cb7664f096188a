{#- Whole days from `start` to `end`, a bigint on every engine: DuckDB's date_diff is one, Spark's
    datediff an int, and the marts' contracts declare bigint. -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch("days_between", "cif")(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    {{ dbt.datediff(start, end, "day") }}
{%- endmacro %}

{% macro spark__days_between(start, end) -%}
    cast({{ dbt.datediff(start, end, "day") }} as bigint)
{%- endmacro %}
