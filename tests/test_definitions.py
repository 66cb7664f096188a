"""The asset graph is pinned: a change to it must be deliberate."""

import sys
from pathlib import Path

import dagster as dg

from tests.helpers import run_command

EXPECTED_ASSETS = {
    "raw/branch__customers",
    "raw/branch__accounts",
    "raw/branch__account_holders",
    "raw/branch__transactions",
    "raw/web__accounts",
    "raw/web__orders",
    "raw/app__profiles",
    "raw/app__events",
    "raw/callcentre__contacts",
    "raw/callcentre__calls",
    "raw/callcentre__tickets",
    "raw/email__subscribers",
    "raw/email__events",
    "raw/kam__institutions",
    "raw/kam__targets",
    "raw/canonical__customers",
    "raw/canonical__transactions",
    "raw/canonical__interactions",
    "staging/stg_branch__customers",
    "staging/stg_branch__accounts",
    "staging/stg_branch__account_holders",
    "staging/stg_branch__transactions",
    "staging/stg_web__accounts",
    "staging/stg_web__orders",
    "staging/stg_app__profiles",
    "staging/stg_app__payments",
    "staging/stg_app__events",
    "staging/stg_callcentre__contacts",
    "staging/stg_callcentre__calls",
    "staging/stg_callcentre__tickets",
    "staging/stg_email__subscribers",
    "staging/stg_email__events",
    "staging/stg_kam__institutions",
    "staging/stg_kam__targets",
    "staging/stg_canonical__customers",
    "staging/stg_canonical__transactions",
    "staging/stg_canonical__interactions",
    "intermediate/int_customer_records_unioned",
    "intermediate/int_transactions_unioned",
    "intermediate/int_interactions_unioned",
    "intermediate/int_account_holders_unioned",
    "core/customer_identity_map",
    "core/customer_household",
    "core/customer_key_lookup",
    "core/dim_customer",
    "core/fct_transactions",
    "core/fct_interactions",
    "core/fct_account_roles",
    "scores/customer_scores",
    "scores/model_runs",
    "marts/customer_360",
    "marts/households",
    "marts/customer_segments",
    "marts/customer_segment_history",
    "marts/key_accounts",
    "marts/key_account_performance",
    "marts/customer_touchpoints",
    "marts/customer_experience",
    "marts/win_back_candidates",
    "marts/campaign_responses",
    "marts/kpi_daily",
    "intermediate/int_segment_dates",
    "intermediate/int_customer_lifecycle",
    "intermediate/int_customer_rfm",
    "intermediate/int_customer_segments_by_date",
    "intermediate/int_customer_products",
    "intermediate/int_key_account_institutions",
    "intermediate/int_customer_touches",
    "warehouse_published",
    "marts_export",
}


def graph(dbt_manifest):
    from orchestration.definitions import build_definitions

    return build_definitions().resolve_asset_graph()


def test_asset_graph_is_pinned(dbt_manifest):
    keys = {k.to_user_string() for k in graph(dbt_manifest).get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS


def test_python_steps_sit_between_the_dbt_layers(dbt_manifest):
    g = graph(dbt_manifest)

    def parents(key: str) -> set[str]:
        return {p.to_user_string() for p in g.get(dg.AssetKey.from_user_string(key)).parent_keys}

    assert "raw/branch__customers" in parents("staging/stg_branch__customers")
    assert "intermediate/int_customer_records_unioned" in parents("core/customer_identity_map")
    assert "core/customer_identity_map" in parents("core/fct_transactions")
    assert "core/fct_transactions" in parents("scores/customer_scores")
    assert "scores/customer_scores" in parents("marts/customer_360")
    from orchestration.assets import MART_KEYS

    assert parents("warehouse_published") == {k.to_user_string() for k in MART_KEYS}
    assert "marts/customer_360" in parents("warehouse_published")
    assert parents("marts_export") == {"warehouse_published"}


def test_blocking_checks_guard_the_core_and_the_marts(dbt_manifest):
    from orchestration.checks import ALL_CHECKS

    specs = {s.key.name: s for c in ALL_CHECKS for s in c.check_specs}
    assert specs["gx_customer_360"].blocking and specs["gx_customer_identity_map"].blocking
    assert specs["rows_reconcile"].blocking and specs["keys_consistent"].blocking
    assert not specs["volume_and_freshness"].blocking and not specs["kpi_drift"].blocking


def test_dagster_definitions_validate(dbt_manifest):
    dagster = Path(sys.executable).parent / "dagster"
    result = run_command(
        [str(dagster), "definitions", "validate", "-m", "orchestration.definitions"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
