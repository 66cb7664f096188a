{#-
    Typed values from raw text, in the formats the layouts declare (strptime notation).
    Dispatched so that Spark gets its own functions; DuckDB is the default engine.
-#}
{% macro parse_date(column, format=none) -%}
    {{ return(adapter.dispatch("parse_date", "cif")(column, format)) }}
{%- endmacro %}

{% macro default__parse_date(column, format) -%}
    {%- if format -%}
        cast(try_strptime(nullif(trim({{ column }}), ''), '{{ format }}') as date)
    {%- else -%}
        try_cast(nullif(trim({{ column }}), '') as date)
    {%- endif -%}
{%- endmacro %}

{% macro spark__parse_date(column, format) -%}
    {%- if format -%}
        to_date(nullif(trim({{ column }}), ''), "{{ cif.spark_datetime_format(format) }}")
    {%- else -%}
        to_date(nullif(trim({{ column }}), ''))
    {%- endif -%}
{%- endmacro %}

{% macro parse_timestamp(column, format=none) -%}
    {{ return(adapter.dispatch("parse_timestamp", "cif")(column, format)) }}
{%- endmacro %}

{#- Offsets are honoured and the result is a UTC timestamp without zone. -#}
{% macro default__parse_timestamp(column, format) -%}
    {%- if format -%}
        try_strptime(nullif(trim({{ column }}), ''), '{{ format }}')
    {%- else -%}
        cast(timezone('UTC', try_cast(nullif(trim({{ column }}), '') as timestamptz)) as timestamp)
    {%- endif -%}
{%- endmacro %}

{% macro spark__parse_timestamp(column, format) -%}
    {%- if format -%}
        to_timestamp(nullif(trim({{ column }}), ''), "{{ cif.spark_datetime_format(format) }}")
    {%- else -%}
        to_timestamp(nullif(trim({{ column }}), ''))
    {%- endif -%}
{%- endmacro %}

{#- Amounts keep the 4 decimals ingest validated them with (ingest/validation.py DECIMAL_TYPE):
    landed sums and fact sums agree to the last validated digit. -#}
{% macro parse_decimal(column, decimal_separator=".") -%}
    {%- set value = "nullif(trim(" ~ column ~ "), '')" -%}
    {%- if decimal_separator != "." -%}
        {%- set value = "replace(replace(" ~ value ~ ", '.', ''), '" ~ decimal_separator ~ "', '.')" -%}
    {%- endif -%}
    {{ dbt.safe_cast(value, "decimal(18, 4)") }}
{%- endmacro %}

{% macro parse_boolean(column) -%}
    case
        when lower(trim({{ column }})) in ('true', 't', '1', 'yes', 'y') then true
        when lower(trim({{ column }})) in ('false', 'f', '0', 'no', 'n') then false
    end
{%- endmacro %}

{% macro spark_datetime_format(format) -%}
    {#- A literal T (ISO 8601) is quoted in Spark's patterns (so they go in double quotes). -#}
    {{- format | replace("T", "'T'") | replace("%Y", "yyyy") | replace("%m", "MM") | replace("%d", "dd")
        | replace("%H", "HH") | replace("%M", "mm") | replace("%S", "ss") -}}
{%- endmacro %}
