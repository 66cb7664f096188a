{#- The run's business date, and the first instant after it: nothing at or after that is used. -#}
{% macro as_of_date() -%}
    cast('{{ var("as_of") }}' as date)
{%- endmacro %}

{% macro as_of_cutoff() -%}
    cast({{ dbt.dateadd("day", 1, "cast('" ~ var("as_of") ~ "' as date)") }} as timestamp)
{%- endmacro %}

{#-
    A raw source as it was known at `as_known_at` (rows loaded later are left out), so that a
    past run can be reproduced exactly: `cif run --as-of D --as-known-at "D 23:59:59"`.
-#}
{% macro known_source(source_name, table_name) -%}
    (
        select * from {{ source(source_name, table_name) }}
        where _loaded_at <= cast('{{ var("as_known_at") }}' as timestamp)
    )
{%- endmacro %}
