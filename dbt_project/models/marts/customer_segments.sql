select
    customer_key,
    as_of_date,
    scheme,
    segment,
    segment_detail,
    segment_score,
    previous_segment,
    previous_as_of_date,
    is_change,
    segment_since
from {{ ref('int_customer_segment_stays') }}
where as_of_date = {{ as_of_date() }}
