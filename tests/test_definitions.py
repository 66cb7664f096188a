"""The asset graph is pinned: a change to it must be deliberate."""

import sys
from pathlib import Path

import dagster as dg

from tests.helpers import run_command

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def graph_text(g) -> str:
    """One line per asset: its key, its parents and its checks (blocking ones marked !)."""
    lines = []
    for key in sorted(g.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = g.get(key)
        parents = sorted(p.to_user_string() for p in node.parent_keys)
        checks = sorted(
            c.name + ("!" if g.get_check_spec(c).blocking else "")
            for c in g.asset_check_keys
            if c.asset_key == key
        )
        lines.append(f"{key.to_user_string()} <- {', '.join(parents) or '-'}")
        if checks:
            lines.append(f"    checks: {', '.join(checks)}")
    return "\n".join(lines) + "\n"


def graph(dbt_manifest):
    from orchestration.definitions import build_definitions

    return build_definitions().resolve_asset_graph()


def test_asset_graph_is_pinned(dbt_manifest, update_snapshots):
    """The asset graph (keys, parents, checks) equals tests/snapshots/asset_graph.txt; a
    deliberate change is recorded with `pytest --snapshot-update` and reviewed in the diff."""
    now = graph_text(graph(dbt_manifest))
    if update_snapshots:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(now)
    assert now == SNAPSHOT.read_text()


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
