"""Asset checks: great-expectations suites and raw-layer reconciliation (logic in quality/)."""

import dagster as dg

from orchestration.assets import RAW_KEYS
from orchestration.resources import CifResource
from quality.gx_bridge import validate_table
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


@dg.asset_check(
    asset=RAW_KEYS[0],
    name="rows_reconcile",
    blocking=True,
    description="every received row is loaded or quarantined, and raw holds what was loaded",
)
def rows_reconcile(context: dg.AssetCheckExecutionContext, cif: CifResource) -> dg.AssetCheckResult:
    with cif.connect(context) as con:
        result = reconcile(con)
    description = (
        f"{result.batches} loaded batches reconcile"
        if result.ok
        else f"{len(result.mismatches)} batches do not reconcile: {result.mismatches[:5]}"
    )
    return dg.AssetCheckResult(
        passed=result.ok,
        description=description,
        metadata={"batches": result.batches, "mismatches": len(result.mismatches)},
    )


GX_CHECKS = [_gx_check(suite) for suite in SUITES]
ALL_CHECKS = [rows_reconcile, *GX_CHECKS]
