{#- A text without the given characters at its end. Spark's two-argument rtrim takes the
    characters first, DuckDB's second, so the models call this instead. -#}
{% macro trim_trailing(column, characters) -%}
    {{ return(adapter.dispatch("trim_trailing", "cif")(column, characters)) }}
{%- endmacro %}

{% macro default__trim_trailing(column, characters) -%}
    rtrim({{ column }}, {{ characters }})
{%- endmacro %}

{% macro spark__trim_trailing(column, characters) -%}
    trim(trailing {{ characters }} from {{ column }})
{%- endmacro %}
