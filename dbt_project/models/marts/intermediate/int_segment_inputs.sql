{#-
    Everything the segment history is computed from, per customer and the date from which it
    counts (the evaluation dates, purchase days with their revenue, touches per channel and day,
    first sight in the golden record, and the birth date, counted from the customer's first
    sight, from when the customer has segments), kept as one fingerprint per date and kind of
    input. Comparing them with the last build's (int_segment_inputs_of_last_build) finds the
    first date a night changed (int_segment_recompute_from). At 1M customers the inputs are
    12.5M rows: comparing and copying them whole took 12 s of a night, their fingerprints are a
    few thousand rows. The scores are not in it: a run writes only its as-of date's.
-#}
with

purchase_days as (
    select
        customer_key,
        occurred_on,
        sum(amount) as amount,
        count(*) as facts
    from {{ ref('fct_transactions') }}
    where amount > 0 and occurred_on <= {{ as_of_date() }}
    group by customer_key, occurred_on
),

touches as (
    {{ customer_touch_days() }}
),

first_seen as (
    select
        customer_key,
        cast(min(valid_from) as date) as first_seen_on
    from {{ ref('dim_customer') }}
    group by customer_key
),

first_purchase as (
    select
        customer_key,
        min(occurred_on) as first_purchase_on
    from purchase_days
    group by customer_key
),

inputs as (
    select
        cast(null as {{ dbt.type_bigint() }}) as customer_key,
        as_of_date as input_date,
        'evaluation date' as input_kind,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as decimal(38, 4)) as amount,
        cast(null as {{ dbt.type_bigint() }}) as facts
    from {{ ref('int_segment_dates') }}

    union all

    select
        customer_key,
        occurred_on as input_date,
        'purchase day' as input_kind,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(amount as decimal(38, 4)) as amount,
        facts
    from purchase_days

    union all

    select
        customer_key,
        occurred_on as input_date,
        'touches' as input_kind,
        channel as detail,
        cast(null as decimal(38, 4)) as amount,
        count(*) as facts
    from touches
    where channel is not null
    group by customer_key, occurred_on, channel

    union all

    select
        customer_key,
        first_seen_on as input_date,
        'first seen' as input_kind,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as decimal(38, 4)) as amount,
        cast(null as {{ dbt.type_bigint() }}) as facts
    from first_seen

    union all

    select
        births.customer_key,
        case
            when first_purchase.first_purchase_on < first_seen.first_seen_on then first_purchase.first_purchase_on
            else first_seen.first_seen_on
        end as input_date,
        'birth date' as input_kind,
        cast(births.date_of_birth as {{ dbt.type_string() }}) as detail,
        cast(null as decimal(38, 4)) as amount,
        cast(null as {{ dbt.type_bigint() }}) as facts
    from {{ ref('dim_customer') }} as births
    inner join first_seen on births.customer_key = first_seen.customer_key
    left join first_purchase on births.customer_key = first_purchase.customer_key
    where births.is_current
)

select
    input_date,
    input_kind,
    count(*) as input_rows,
    {{ cif.hash_of_group(cif.row_hash(['customer_key', 'detail', 'amount', 'facts'])) }} as inputs_hash
from inputs
group by input_date, input_kind
