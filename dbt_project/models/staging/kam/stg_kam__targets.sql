with

source as (
    select * from {{ known_source('kam', 'targets') }}
),

renamed as (
    select
        'kam' as source_system,
        trim(ka_id) as source_customer_id,
        upper(trim(period)) as period,
        -- Targets, not money that moved: the 2 decimals of the key-account marts' contract.
        cast({{ parse_decimal('revenue_target') }} as decimal(18, 2)) as revenue_target,
        {{ dbt.safe_cast("nullif(trim(products_target), '')", api.Column.translate_type("integer")) }}
            as products_target,
        {{ dbt.safe_cast("nullif(trim(share_of_wallet_target), '')", "decimal(9, 4)") }}
            as share_of_wallet_target,
        cast({{ parse_decimal('wallet_estimate') }} as decimal(18, 2)) as wallet_estimate,
        trim(account_manager) as account_manager,
        {{ parse_date('set_on', '%Y-%m-%d') }} as set_on,
        _batch_id as batch_id,
        _row_number as row_number_in_file,
        _loaded_at as loaded_at
    from source
),

as_of as (
    select
        *,
        {{
            latest_load_rank(
                "source_customer_id, period",
                batch="batch_id",
                row="row_number_in_file",
                first_by="set_on desc"
            )
        }} as version_rank
    from renamed
    where set_on < {{ as_of_cutoff() }}
)

select
    source_system,
    source_customer_id,
    period,
    revenue_target,
    products_target,
    share_of_wallet_target,
    wallet_estimate,
    account_manager,
    set_on,
    batch_id,
    loaded_at
from as_of
where version_rank = 1
