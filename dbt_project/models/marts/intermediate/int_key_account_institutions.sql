{#- The institutions of the key-account system as they stand on the as-of date, with their customer_key. -#}
with

versions as (
    select
        *,
        row_number() over (partition by source_customer_id order by updated_at desc, batch_id desc) as version_rank
    from {{ ref('stg_kam__institutions') }}
)

select
    identity_map.customer_key,
    versions.source_customer_id as ka_id,
    versions.organisation_type,
    versions.sector,
    versions.account_manager,
    versions.key_account_since
from versions
inner join {{ source('core', 'customer_identity_map') }} as identity_map
    on
        versions.source_system = identity_map.source_system
        and versions.source_customer_id = identity_map.source_customer_id
where versions.version_rank = 1
