with

segments as (
    select * from {{ ref('int_customer_segments_by_date') }}
),

compared as (
    select
        customer_key,
        as_of_date,
        scheme,
        segment,
        segment_detail,
        segment_score,
        lag(segment) over (partition by customer_key, scheme order by as_of_date) as previous_segment,
        lag(as_of_date) over (partition by customer_key, scheme order by as_of_date) as previous_as_of_date
    from segments
),

flagged as (
    select
        *,
        case when previous_segment is null or previous_segment <> segment then 1 else 0 end as is_change_flag
    from compared
),

spells as (
    select
        *,
        sum(is_change_flag) over (
            partition by customer_key, scheme order by as_of_date rows between unbounded preceding and current row
        ) as spell_number
    from flagged
)

select
    customer_key,
    as_of_date,
    scheme,
    segment,
    segment_detail,
    segment_score,
    previous_segment,
    previous_as_of_date,
    coalesce(previous_segment is not null and previous_segment <> segment, false) as is_change,
    min(as_of_date) over (partition by customer_key, scheme, spell_number) as segment_since
from spells
-- clustered by customer: looking up one customer (the frontline) reads only its row groups
order by customer_key, scheme, as_of_date
