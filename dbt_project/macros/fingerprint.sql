{#-
    Fingerprints that say whether the rows a model reads changed since its last build
    (int_golden_record_inputs). DuckDB hashes a row's columns natively and combines a group's
    hashes with bit_xor, order-independent, as identity resolution fingerprints its inputs; at
    1M customers the portable md5 of the text of every column, aggregated as a sorted list, took
    8.9 s of a night. Rows are distinct, so no two of a group's hashes cancel out.
-#}

{#- The hash of one row, from a list of column expressions. -#}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch("row_hash", "cif")(columns)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    {%- set fields = [] -%}
    {%- for column in columns -%}
        {%- do fields.append("coalesce(" ~ dbt.safe_cast(column, api.Column.translate_type("string")) ~ ", '~')") -%}
        {%- do fields.append("'|'") -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(fields)) }}
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(", ") }})
{%- endmacro %}

{#- The fingerprint of a group's row hashes (an aggregate), whatever their order. -#}
{% macro hash_of_group(row_hash) -%}
    {{ return(adapter.dispatch("hash_of_group", "cif")(row_hash)) }}
{%- endmacro %}

{% macro default__hash_of_group(row_hash) -%}
    {{ dbt.hash(dbt.listagg(row_hash, "','", "order by " ~ row_hash)) }}
{%- endmacro %}

{% macro duckdb__hash_of_group(row_hash) -%}
    bit_xor({{ row_hash }})
{%- endmacro %}
