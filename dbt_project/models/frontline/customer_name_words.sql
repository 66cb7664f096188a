{#-
    The words of every name in customer_search, each row carrying the whole name: the frontline's
    typo-tolerant search looks up a query's words here (directly, or one letter apart through
    name_word_variants) and scores only the names found, instead of every name. Sorted by word,
    so a lookup reads only the row groups that can hold the words.
-#}
with

names as (
    select
        customer_key,
        search_value as full_name
    from {{ ref('customer_search') }}
    where kind = 'name'
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
