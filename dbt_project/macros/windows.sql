{#- The latest non-null value of an expression up to the current row of a window. -#}
{% macro last_non_null(expression, partition_by, order_by) -%}
    {{ return(adapter.dispatch("last_non_null", "cif")(expression, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__last_non_null(expression, partition_by, order_by) -%}
    last_value({{ expression }} ignore nulls) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{% macro spark__last_non_null(expression, partition_by, order_by) -%}
    last({{ expression }}, true) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{#- "Latest load wins": 1 for the row of each key that arrived last (the latest batch, then the
    latest row in its file), after any business ordering given in `first_by`. -#}
{% macro latest_load_rank(partition_by, batch="_batch_id", row="_row_number", first_by=none) -%}
    row_number() over (
        partition by {{ partition_by }}
        order by {% if first_by %}{{ first_by }}, {% endif %}{{ batch }} desc, {{ row }} desc
    )
{%- endmacro %}
