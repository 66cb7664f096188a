{#-
    The run's two clocks. A nightly run writes them to meta.run_context before dbt builds
    (ingest/warehouse.py write_run_context), so they are read when the SQL runs, not compiled
    into it: the parsed project stays the same from run to run and dbt need not parse it again.
    The vars `as_of` and `as_known_at`, when given (dbt unit tests), take their place.
-#}

{#- The business date: nothing after it is used. -#}
{% macro as_of_date() -%}
    {%- if var("as_of", none) is not none -%}
        cast('{{ var("as_of") }}' as date)
    {%- else -%}
        (select as_of from meta.run_context)
    {%- endif -%}
{%- endmacro %}

{#- The first instant after the business date. -#}
{% macro as_of_cutoff() -%}
    cast({{ dbt.dateadd("day", 1, as_of_date()) }} as timestamp)
{%- endmacro %}

{#- The knowledge time: rows loaded later are left out. -#}
{% macro as_known_at() -%}
    {%- if var("as_known_at", none) is not none -%}
        cast('{{ var("as_known_at") }}' as timestamp)
    {%- elif var("as_of", none) is not none -%}
        cast('9999-12-31 00:00:00' as timestamp)
    {%- else -%}
        (select as_known_at from meta.run_context)
    {%- endif -%}
{%- endmacro %}

{#-
    A raw source as it was known at the knowledge time (rows loaded later are left out), so
    that a past run can be reproduced exactly: `cif run --as-of D --as-known-at "D 23:59:59"`.
-#}
{% macro known_source(source_name, table_name) -%}
    (
        select * from {{ source(source_name, table_name) }}
        where _loaded_at <= {{ as_known_at() }}
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
