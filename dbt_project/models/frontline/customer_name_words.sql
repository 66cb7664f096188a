{#-
    The words of every name in customer_search, each row carrying the whole name: the frontline's
    typo-tolerant search looks up a query's words here (directly, or one letter apart through
    name_word_variants) and scores only the names found, instead of every name. Sorted by word,
    so a lookup reads only the row groups that can hold the words.
    Incremental by customer, with customer_search and from the same fingerprints: a night
    rebuilds the words of the customers whose search keys it rebuilt (appended after the sorted
    rows until a full build), and deletes the customers merged away.
-#}
{{ cif.config_incremental_by_customer() }}
-- depends_on: {{ ref('int_golden_record_inputs') }}
-- depends_on: {{ ref('int_customer_search_inputs') }}
-- depends_on: {{ source('core', 'customer_identity_map') }}
with

{% if is_incremental() %}
    rebuilt as (
        {{ cif.identity_map_to_rebuild(ref('int_customer_search_inputs')) }}
    ),
{% endif %}

names as (
    select
        customer_key,
        search_value as full_name
    from {{ ref('customer_search') }}
    where kind = 'name'
    {% if is_incremental() %}
        and customer_key in (select rebuilt.customer_key from rebuilt)
    {% endif %}
),

positions as (
    {{ dbt.generate_series(var('frontline_name_max_words')) }}
),

words as (
    select
        names.customer_key,
        names.full_name,
        {{ cif.nth_part('names.full_name', "' '", 'positions.generated_number') }} as word
    from names
    cross join positions
)

select distinct
    word,
    full_name,
    customer_key
from words
where word <> ''
order by word, full_name, customer_key
