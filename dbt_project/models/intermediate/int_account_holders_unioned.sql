{#- Account holders of every source that keeps accounts with several holders (today the branch),
    so that identity resolution reads only the intermediate layer. -#}
{% for model in [
    'stg_branch__account_holders',
] %}
    select
        source_system,
        account_id,
        source_customer_id,
        holder_role,
        valid_from,
        valid_to
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
