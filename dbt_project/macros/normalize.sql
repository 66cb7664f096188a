{#- Identifier normalisation shared by identity resolution and lookups. -#}
{% macro strip_non_alnum(column) -%}
    {{ return(adapter.dispatch("strip_non_alnum", "cif")(column)) }}
{%- endmacro %}

{% macro default__strip_non_alnum(column) -%}
    regexp_replace(coalesce({{ column }}, ''), '[^A-Za-z0-9]', '', 'g')
{%- endmacro %}

{% macro spark__strip_non_alnum(column) -%}
    regexp_replace(coalesce({{ column }}, ''), '[^A-Za-z0-9]', '')
{%- endmacro %}

{#- International numbers (+.., 00..) in E.164. A national number (leading 0) of a record in
    Great Britain (its country, else its source's declared phone region) gets +44 as before;
    other national numbers keep their digits: identity resolution reads them in their region
    with the phonenumbers library (models/identity/records.py). -#}
{% macro normalize_phone(column, region="'GB'") -%}
    {%- set digits = cif.digits_only(column) -%}
    case
        when {{ digits }} = '' then null
        when trim({{ column }}) like '+%' then '+' || {{ digits }}
        when {{ digits }} like '00%' then '+' || substr({{ digits }}, 3)
        when {{ region }} = 'GB' and {{ digits }} like '0%' then '+44' || substr({{ digits }}, 2)
        else {{ digits }}
    end
{%- endmacro %}

{% macro digits_only(column) -%}
    {{ return(adapter.dispatch("digits_only", "cif")(column)) }}
{%- endmacro %}

{% macro default__digits_only(column) -%}
    regexp_replace(coalesce({{ column }}, ''), '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(column) -%}
    regexp_replace(coalesce({{ column }}, ''), '[^0-9]', '')
{%- endmacro %}

{#- Names as people write them: "mary ann lee-smith" -> "Mary Ann Lee-Smith". -#}
{% macro title_case(column) -%}
    {{ return(adapter.dispatch("title_case", "cif")(column)) }}
{%- endmacro %}

{% macro default__title_case(column) -%}
    array_to_string(
        list_transform(
            string_split(lower(trim({{ column }})), ' '),
            lambda word: array_to_string(
                list_transform(string_split(word, '-'), lambda part: upper(left(part, 1)) || substr(part, 2)),
                '-'
            )
        ),
        ' '
    )
{%- endmacro %}

{% macro spark__title_case(column) -%}
    array_join(
        transform(
            split(lower(trim({{ column }})), ' '),
            word -> array_join(
                transform(split(word, '-'), part -> upper(left(part, 1)) || substr(part, 2)),
                '-'
            )
        ),
        ' '
    )
{%- endmacro %}
