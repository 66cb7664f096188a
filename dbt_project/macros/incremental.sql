{#-
    Incremental models add what a night brought to what the last build made, with dbt's
    portable `delete+insert` strategy on the model's unique key: the rows of the keys the night
    touched are deleted and inserted again. The last build's clocks are in meta.build_state
    (ingest/warehouse.py write_build_state, written after the last dbt layer of a run). A run
    whose clocks do not follow on from it (no build yet, --as-of before it, --as-known-at, or
    --full-refresh) is built with dbt's --full-refresh (orchestration/dbt.py), where
    is_incremental() is false and every model is built from raw as before.
-#}

{#- The first instant after the last build's business date: rows dated from then on were
    left out by it and may be in this run. -#}
{% macro previous_as_of_cutoff() -%}
    (select cast({{ dbt.dateadd("day", 1, "as_of") }} as timestamp) from meta.build_state)
{%- endmacro %}

{#- Rows of raw batches loaded after the newest one the model holds (batch ids only grow). -#}
{% macro from_new_batches(batch_column="batch_id") -%}
    {{ batch_column }} > (select coalesce(max(batch_id), -1) from {{ this }})
{%- endmacro %}

{#- What the night may change in a fact table: rows of new batches (new rows and corrected
    ones: the latest load wins) and rows whose date the run's business date reached since the
    last build's (known before but left out until then). -#}
{% macro night_of_facts(batch_column="batch_id", time_columns=["occurred_at"]) -%}
    (
        {{ from_new_batches(batch_column) }}
        {%- for column in time_columns %}
            or ({{ column }} >= {{ previous_as_of_cutoff() }} and {{ column }} < {{ as_of_cutoff() }})
        {%- endfor %}
    )
{%- endmacro %}

{#-
    The fact unions (int_transactions_unioned, int_interactions_unioned) hold the latest
    version of every fact whatever its date, and the core's facts those dated by the as-of. A
    correction whose new version is dated after the as-of replaces the earlier version in the
    union the night it lands; this pre-hook of the core's fact table deletes the facts whose
    latest version is dated after the as-of (pending: they come back when their date is
    reached), so the earlier version goes that night, as a full build has it.
-#}
{% macro delete_pending_facts(unioned, id_column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as facts
        where exists (
            select 1 from {{ ref(unioned) }} as pending
            where
                pending.source_system = facts.source_system
                and pending.{{ id_column }} = facts.{{ id_column }}
                and pending.occurred_at >= {{ as_of_cutoff() }}
        )
    {%- endif -%}
{%- endmacro %}

{#- The source records of an incremental fact table that identity resolution gave another
    customer key tonight: their facts are rebuilt with the new key, whatever their dates. -#}
{% macro rekeyed_source_records() -%}
    select distinct
        facts.source_system,
        facts.source_customer_id
    from {{ this }} as facts
    inner join {{ source('core', 'customer_identity_map') }} as identity_map
        on
            facts.source_system = identity_map.source_system
            and facts.source_customer_id = identity_map.source_customer_id
    where facts.customer_key <> identity_map.customer_key
{%- endmacro %}

{#- The strategy of the incremental models: dbt's portable delete+insert; dbt-spark has no
    delete+insert without Delta, and Spark builds always rebuild in full (orchestration/
    engines.py), so there it only has to be a strategy dbt-spark accepts. -#}
{% macro cif_incremental_strategy() -%}
    {{ return(adapter.dispatch("cif_incremental_strategy", "cif")()) }}
{%- endmacro %}

{% macro default__cif_incremental_strategy() -%}
    {{ return("delete+insert") }}
{%- endmacro %}

{% macro spark__cif_incremental_strategy() -%}
    {{ return("append") }}
{%- endmacro %}

{#-
    The segment history (int_customer_lifecycle, int_customer_rfm, int_customer_segments_by_date,
    int_customer_segment_stays) is incremental by evaluation date: a row of a date depends
    only on what was true up to that date, so a night recomputes the dates from the first one
    its changes reach (int_segment_recompute_from) and keeps the rows before it. The delete runs
    as a pre-hook and the recomputed dates are appended: dates the night drops (a month-end
    leaving the window) are deleted with them, which delete+insert on the new rows' keys would
    miss. Spark builds are always full, where the hooks do nothing.
-#}

{#- The first evaluation date this build computes: all of them on a full build. -#}
{% macro first_recomputed_date() -%}
    {%- if is_incremental() -%}
        (select recompute_from from {{ ref('int_segment_recompute_from') }})
    {%- else -%}
        cast('{{ var("plausible_from") }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- The first evaluation date of the history (earlier ones have left the window). -#}
{% macro first_history_date() -%}
    {%- if is_incremental() -%}
        (select history_starts_on from {{ ref('int_segment_recompute_from') }})
    {%- else -%}
        cast('{{ var("plausible_from") }}' as date)
    {%- endif -%}
{%- endmacro %}

{% macro delete_recomputed_dates() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where as_of_date >= {{ first_recomputed_date() }} or as_of_date < {{ first_history_date() }}
    {%- endif -%}
{%- endmacro %}

{#- The segment history's working tables (int_customer_lifecycle, int_customer_rfm,
    int_customer_segments_by_date) hold only the dates the build computed: nothing reads
    their earlier dates (the stays keep what each date said), so a night starts them empty
    rather than keeping a row per customer for every night of the month. -#}
{% macro keep_only_recomputed_dates() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#-
    When month-ends leave the window, the history's first kept date begins every stay that
    began before it, as a full build over the window would have it: the first row kept of a
    customer's scheme has no previous segment, and a stay that began on a date that left starts
    on the scheme's first row kept (the same stay runs from there). Rows are updated in place.
-#}
{% macro forget_previous_before_first_date() -%}
    {%- if is_incremental() -%}
        update {{ this }}
        set previous_segment = null, previous_as_of_date = null, is_change = false
        where previous_as_of_date < {{ first_history_date() }}
    {%- endif -%}
{%- endmacro %}

{% macro start_stays_on_first_date() -%}
    {%- if is_incremental() -%}
        update {{ this }} as history
        set segment_since = first_kept.as_of_date
        from (
            select customer_key, scheme, min(as_of_date) as as_of_date
            from {{ this }}
            where segment_since < {{ first_history_date() }}
            group by customer_key, scheme
        ) as first_kept
        where
            history.customer_key = first_kept.customer_key
            and history.scheme = first_kept.scheme
            and history.segment_since < {{ first_history_date() }}
    {%- endif -%}
{%- endmacro %}

{#-
    marts.customer_segment_history keeps the stays of int_customer_segment_stays as spells. A
    night writes again the spells that begin from the first recomputed date, and decides again
    the end of the spell each customer's scheme was in just before it. When month-ends leave
    the window (once a month), the first stays kept lose their start and predecessor: that
    night writes every spell again from the stays, as a full build would.
-#}
{% macro first_respelled_date() -%}
    {%- if is_incremental() -%}
        (
            case
                when exists (
                    select 1 from {{ this }} where valid_from < {{ first_history_date() }}
                ) then cast('{{ var("plausible_from") }}' as date)
                -- the same night, once its pre-hook has deleted every spell
                when not exists (select 1 from {{ this }})
                    then cast('{{ var("plausible_from") }}' as date)
                else {{ first_recomputed_date() }}
            end
        )
    {%- else -%}
        {{ first_recomputed_date() }}
    {%- endif -%}
{%- endmacro %}

{% macro delete_respelled_spells() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where valid_from >= {{ first_respelled_date() }}
    {%- endif -%}
{%- endmacro %}

{#- The segment of each customer's scheme on `day` (a date expression), from the spells:
    what the history said on the last evaluation date up to it. -#}
{% macro segments_on(day) -%}
    select customer_key, scheme, segment, valid_from as segment_since
    from {{ ref('customer_segment_history') }}
    where valid_from <= {{ day }} and (valid_to is null or valid_to > {{ day }})
{%- endmacro %}

{#- The identity map of the customers a model incremental by customer rebuilds: those whose
    fingerprint in `inputs` (customer_key, inputs_hash) differs from the last build's copy of it,
    `<inputs>_of_last_build` (every customer when there is no copy, or in a full build), as
    dim_customer and customer_search read them. -#}
{% macro identity_map_to_rebuild(inputs) -%}
    select * from {{ source('core', 'customer_identity_map') }}
    {%- if is_incremental() %}
        {%- set last_build = adapter.get_relation(
            database=this.database, schema=inputs.schema, identifier=inputs.identifier ~ "_of_last_build"
        ) %}
        where customer_key in (
            select customer_key from (
                select customer_key, inputs_hash from {{ inputs }}
                {%- if last_build is not none %}
                    {{ dbt.except() }}
                    select customer_key, inputs_hash from {{ last_build }}
                {%- endif %}
            ) as changed
        )
    {%- endif %}
{%- endmacro %}

{#-
    The models incremental by customer (dim_customer, customer_search, customer_name_words):
    delete+insert on customer_key of the customers identity_map_to_rebuild returns, after a
    pre-hook that deletes the customers no longer in the identity map (merged into another):
    they have no inputs tonight, and their rows go.
-#}
{% macro config_incremental_by_customer() -%}
    {{
        config(
            materialized="incremental",
            incremental_strategy=cif_incremental_strategy(),
            unique_key="customer_key",
            pre_hook="{{ cif.delete_customers_without_inputs() }}",
        )
    }}
{%- endmacro %}

{% macro delete_customers_without_inputs() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where customer_key not in (select customer_key from {{ ref('int_golden_record_inputs') }})
    {%- endif -%}
{%- endmacro %}
