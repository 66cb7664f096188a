{#-
    Every distinct name word with each one-letter deletion of it (and itself): two words one
    typo apart (a letter dropped, added, changed, or two swapped) share a variant, so a query
    word's own variants find them by equality (a symmetric-deletion index, as in SymSpell).
    Sorted by variant.
-#}
with

words as (
    select distinct word from {{ ref('customer_name_words') }}
),

positions as (
    {{ dbt.generate_series(var('frontline_name_max_word_length')) }}
),

variants as (
    select
        word as variant,
        word
    from words
    union all
    select
        substr(words.word, 1, positions.generated_number - 1)
        || substr(words.word, positions.generated_number + 1) as variant,
        words.word
    from words
    inner join positions on positions.generated_number <= {{ dbt.length('words.word') }}
)

select distinct
    variant,
    word
from variants
where variant <> ''
order by variant, word
