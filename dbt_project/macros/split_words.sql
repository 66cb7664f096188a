{#- The n-th part of a text split at a separator (1 = first), '' past the last part. dbt's
    split_part needs a literal part number on Spark; here it is a column. -#}
{% macro nth_part(column, separator, position) -%}
    {{ return(adapter.dispatch("nth_part", "cif")(column, separator, position)) }}
{%- endmacro %}

{% macro default__nth_part(column, separator, position) -%}
    {{ dbt.split_part(column, separator, position) }}
{%- endmacro %}

{% macro spark__nth_part(column, separator, position) -%}
    coalesce(element_at(split({{ column }}, {{ separator }}), cast({{ position }} as int)), '')
{%- endmacro %}
