"""Asset checks: GX suites, raw-layer reconciliation and monitors (logic in quality/)."""

import dagster as dg

from ingest.layouts import layout_for, load_layouts
from orchestration.assets import RAW_KEYS
from orchestration.resources import CifResource
from quality.gx_bridge import validate_table
from quality.monitors import conflicting_keys, kpi_drift, low_volume, missing_sources
from quality.reconciliation import reconcile
from quality.suites import SUITES, Suite


def _gx_check(suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey([suite.schema, suite.table]),
        name=f"gx_{suite.name}",
        blocking=suite.blocking,
        description=f"great-expectations suite {suite.name}: {suite.description}",
    )
    def check(context: dg.AssetCheckExecutionContext, cif: CifResource) -> dg.AssetCheckResult:
        with cif.connect(context) as con:
            outcome = validate_table(
                con, suite.schema, suite.table, suite.name, suite.expectations()
            )
        if not outcome.success:
            context.log.error(outcome.describe())
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR if suite.blocking else dg.AssetCheckSeverity.WARN,
            description=outcome.describe(),
            metadata={
                "rows": outcome.rows,
                "expectations": outcome.evaluated,
                "failed": len(outcome.failures),
            },
        )

    return check


RAW_CHECKS = {
    "rows_reconcile": (
        True,
        "every received row is loaded or quarantined; raw holds what was loaded",
    ),
    "keys_consistent": (True, "no key appears twice in one file with different values"),
    "volume_and_freshness": (False, "every usual source sent a file of about its usual size"),
}


def _raw_table(system: str, entity: str) -> str | None:
    layout = layout_for(system, entity)
    return layout.raw_table if layout else None


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=key, blocking=blocking, description=description)
        for key in RAW_KEYS
        for name, (blocking, description) in RAW_CHECKS.items()
    ],
    name="raw_checks",
)
def raw_checks(context: dg.AssetCheckExecutionContext, cif: CifResource):
    """Reconciliation, key consistency, volume and freshness of every raw table."""
    with cif.connect(context) as con:
        reconciliation = reconcile(con)
        conflicts = conflicting_keys(con, list(load_layouts().values()))
        monitors = low_volume(con) + missing_sources(con)
    for key in RAW_KEYS:
        table = key.path[-1]
        mismatched = [m for m in reconciliation.mismatches if _raw_table(m[1], m[2]) == table]
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="rows_reconcile",
            passed=not mismatched,
            description=f"{len(mismatched)} batches do not reconcile: {mismatched[:5]}"
            if mismatched
            else "all loaded batches reconcile",
        )
        conflict = [str(f) for f in conflicts if f.subject == f"raw.{table}"]
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="keys_consistent",
            passed=not conflict,
            description="; ".join(conflict) or "no conflicting keys",
        )
        notes = [str(f) for f in monitors if _raw_table(*f.subject.split("/", 1)) == table]
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="volume_and_freshness",
            passed=not notes,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(notes) or "usual sources and volumes",
        )


@dg.asset_check(
    asset=dg.AssetKey(["scores", "customer_scores"]),
    name="kpi_drift",
    blocking=False,
    description="customer count, average CLV and attrition risk within their usual range",
)
def kpi_drift_check(
    context: dg.AssetCheckExecutionContext, cif: CifResource
) -> dg.AssetCheckResult:
    with cif.connect(context) as con:
        findings = kpi_drift(con, cif.as_of_date)
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(str(f) for f in findings) or "KPIs within their usual range",
    )


GX_CHECKS = [_gx_check(suite) for suite in SUITES]
ALL_CHECKS = [raw_checks, kpi_drift_check, *GX_CHECKS]
