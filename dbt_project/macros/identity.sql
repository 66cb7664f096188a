{#-
    What a source declares about its customer identifiers, for identity resolution
    (models/identity/ reads only the intermediate layer, which carries these as columns).
    Declared once, as the `identity` meta of the source table in staging/<system>/_<system>.yml:

        meta:
          identity:
            party_type: organisation   # every record is an organisation (default: a person)
            phone_region: GB           # national-format phone numbers are of this country
            references: branch         # referenced_customer_id is a customer number of that system

    Returns the declared value as a SQL string literal, or a typed null when none is declared.
-#}
{% macro declared_identity(source_name, table_name, key) -%}
    {%- set found = namespace(value=none) -%}
    {%- if execute -%}
        {%- for node in graph.get("sources", {}).values() -%}
            {%- if node.source_name == source_name and node.name == table_name -%}
                {%- set found.value = (node.meta.get("identity") or {}).get(key) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if found.value is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        '{{ found.value }}'
    {%- endif -%}
{%- endmacro %}
