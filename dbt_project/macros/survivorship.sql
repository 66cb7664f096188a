{#-
    The trust rank of a source system (1 = most trusted), from the var `source_trust` in
    dbt_project.yml; a source system not listed there gets `source_trust_default_rank`.
-#}
{% macro source_trust_rank(column) -%}
    case {{ column }}
        {%- for source_system, trust in var("source_trust").items() %}
            when '{{ source_system }}' then {{ trust["rank"] }}
        {%- endfor %}
        else {{ var("source_trust_default_rank") }}
    end
{%- endmacro %}
