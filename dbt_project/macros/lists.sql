{#-
    dbt's listagg on Spark ignores its `order by` (collect_list keeps no order). With the
    dispatch search order in dbt_project.yml this one takes its place on Spark: the values are
    collected with their sort keys, sorted, then joined, so the list reads as on DuckDB.
    Ascending keys only (the only kind the models use).
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if not order_by_clause -%}
        {{ return(dbt.spark__listagg(measure, delimiter_text, none, limit_num)) }}
    {%- endif -%}
    {%- set keys = order_by_clause | trim | replace("order by ", "") | replace("ORDER BY ", "") -%}
    {%- set fields = [] -%}
    {%- for key in keys.split(",") -%}
        {%- do fields.append("'k" ~ loop.index ~ "', " ~ key | trim) -%}
    {%- endfor -%}
    {%- set sorted = "transform(array_sort(collect_list(named_struct(" ~ fields | join(", ")
        ~ ", 'v', " ~ measure ~ "))), item -> item.v)" -%}
    {%- if limit_num -%}{%- set sorted = "slice(" ~ sorted ~ ", 1, " ~ limit_num ~ ")" -%}{%- endif -%}
    array_join({{ sorted }}, {{ delimiter_text }})
{%- endmacro %}
