{#- The run's business date, and the first instant after it: nothing at or after that is used. -#}
{% macro as_of_date() -%}
    cast('{{ var("as_of") }}' as date)
{%- endmacro %}

{% macro as_of_cutoff() -%}
    cast({{ dbt.dateadd("day", 1, "cast('" ~ var("as_of") ~ "' as date)") }} as timestamp)
{%- endmacro %}
