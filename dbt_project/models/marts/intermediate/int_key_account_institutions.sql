{#-
    The institutions of the key-account system as they stand on the as-of date, with their
    customer_key: one row per customer. When identity resolution finds two institution records
    to be one customer, the longest-standing key account represents it.
-#}
with

versions as (
    select
        *,
        row_number() over (partition by source_customer_id order by updated_at desc, batch_id desc) as version_rank
    from {{ ref('stg_kam__institutions') }}
),

resolved as (
    select
        identity_map.customer_key,
        versions.source_customer_id as ka_id,
        versions.organisation_type,
        versions.sector,
        versions.account_manager,
        versions.key_account_since,
        row_number() over (
            partition by identity_map.customer_key
            order by versions.key_account_since asc, versions.source_customer_id asc
        ) as customer_rank
    from versions
    inner join {{ source('core', 'customer_identity_map') }} as identity_map
        on
            versions.source_system = identity_map.source_system
            and versions.source_customer_id = identity_map.source_customer_id
    where versions.version_rank = 1
)

select
    customer_key,
    ka_id,
    organisation_type,
    sector,
    account_manager,
    key_account_since
from resolved
where customer_rank = 1
