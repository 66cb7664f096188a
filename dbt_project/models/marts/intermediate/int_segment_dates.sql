{#-
    The dates segments are evaluated on: the as-of date, the month-ends of the last
    `segment_history_months` months, and the scored dates since the last of those month-ends
    (every night of the current month). A night's date is kept until its month ends: when every
    scored date stayed, the history grew by a row per customer and scheme every night (6.6M rows
    at 1M customers), and the marts and the export with it. The nights of a month that has ended
    leave (the history is recomputed from the first of them, which leaves only the month-end and
    the as-of date to compute).
-#}
with

months as (
    {{ dbt.generate_series(var('segment_history_months') | int) }}
),

month_ends as (
    select
        cast(
            {{ dbt.last_day(
                dbt.dateadd('month', '-1 * generated_number', dbt.date_trunc('month', as_of_date())), 'month'
            ) }}
            as date
        ) as as_of_date
    from months
),

scored as (
    select distinct as_of_date
    from {{ source('scores', 'customer_scores') }}
    where
        as_of_date <= {{ as_of_date() }}
        and as_of_date > (select max(month_ends.as_of_date) from month_ends)
),

all_dates as (
    select as_of_date from month_ends
    union
    select {{ as_of_date() }} as as_of_date
    union
    select as_of_date from scored
)

select as_of_date
from all_dates
