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

{#-
    The business time of a record version: its own timestamp (`parsed`) when it has one.
    Without one, the first load of the record (`record_key`) is valid from the start of history
    (var plausible_from), so that it is there for every --as-of; a later undated version takes
    its load time (the change is only known to have happened by then). Knowledge time stays
    `_loaded_at` either way (known_source), so --as-known-at before the load leaves it out.
-#}
{% macro business_time(parsed, record_key) -%}
    coalesce(
        {{ parsed }},
        case
            when _loaded_at = min(_loaded_at) over (partition by {{ record_key }})
                then cast('{{ var("plausible_from") }}' as timestamp)
            else _loaded_at
        end
    )
{%- endmacro %}
