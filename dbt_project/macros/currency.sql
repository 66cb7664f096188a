{#-
    Amounts in the reporting currency (var reporting_currency) with the declared rates (var
    currency_rates: units of a currency per one unit of the reporting currency). Ingest
    quarantines amounts in a currency without a rate, so every amount here converts.
-#}
{% macro currency_or_reporting(column) -%}
    coalesce(upper(nullif(trim({{ column }}), '')), '{{ var("reporting_currency") }}')
{%- endmacro %}

{% macro to_reporting_currency(amount, currency) -%}
    case {{ currency }}
        when '{{ var("reporting_currency") }}' then {{ amount }}
        {%- for code, rate in var("currency_rates").items() if code | upper != var("reporting_currency") %}
            when '{{ code | upper }}' then cast({{ amount }} / {{ rate }} as decimal(18, 4))
        {%- endfor %}
    end
{%- endmacro %}
