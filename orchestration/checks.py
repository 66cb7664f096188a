"""Asset checks: GX suites, raw-layer reconciliation and monitors (logic in quality/)."""

import dagster as dg

from orchestration.assets import RAW_KEYS, SCORES_KEY
from orchestration.resources import CifResource
from quality.gx_bridge import validate_table
from quality.monitors import kpi_drift
from quality.raw_checks import RAW_CHECKS, raw_findings
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


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            check.name, asset=key, blocking=check.blocking, description=check.description
        )
        for key in RAW_KEYS
        for check in RAW_CHECKS
    ],
    name="raw_checks",
)
def raw_checks(context: dg.AssetCheckExecutionContext, cif: CifResource):
    """Reconciliation, key consistency, volume and freshness of every raw table."""
    with cif.connect(context) as con:
        findings = raw_findings(con)
    for key in RAW_KEYS:
        for check in RAW_CHECKS:
            failed = findings[".".join(key.path)][check.name]
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=check.name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR
                if check.blocking
                else dg.AssetCheckSeverity.WARN,
                description="; ".join(failed) or check.description,
            )


@dg.asset_check(
    asset=SCORES_KEY,
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
