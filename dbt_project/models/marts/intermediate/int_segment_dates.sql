{#- The dates segments are evaluated on: the as-of date, the month-ends before it, every scored date. -#}
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
    where as_of_date <= {{ as_of_date() }}
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
