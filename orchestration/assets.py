"""Thin Dagster assets over the plain functions in ingest/ and models/."""

import datetime as dt
from pathlib import Path

import dagster as dg

from ingest.export import MARTS_SCHEMA
from ingest.layouts import load_layouts
from ingest.loader import load_landing, summarize
from ingest.retention import prune_quarantine
from ingest.retention import removal_note as quarantine_note
from models import scoring
from models.identity import DBT_INPUTS as IDENTITY_INPUTS
from models.identity import resolve_identities
from models.identity import tables as identity_tables
from orchestration.dbt import dbt_asset_key, dbt_keys_in_schema, dbt_marts_assets
from orchestration.exports import export_published, removal_note
from orchestration.resources import PUBLISH_KEY, CifResource
from orchestration.retention import notes, prune_audit, prune_plots, prune_run_history
from orchestration.settings import CifSettings
from quality.figures import key_figures, plots_markdown
from quality.run_history import record_publication

RAW_KEYS = [dg.AssetKey(["raw", layout.raw_table]) for layout in load_layouts().values()]
IDENTITY_KEY = dg.AssetKey([identity_tables.SCHEMA, identity_tables.IDENTITY_MAP])
HOUSEHOLD_KEY = dg.AssetKey([identity_tables.SCHEMA, identity_tables.HOUSEHOLDS])
KEY_LOOKUP_KEY = dg.AssetKey([identity_tables.SCHEMA, identity_tables.KEY_LOOKUP])
SCORES_KEY = dg.AssetKey([scoring.SCHEMA, scoring.SCORES_TABLE])
MODEL_RUNS_KEY = dg.AssetKey([scoring.SCHEMA, scoring.MODEL_RUNS_TABLE])
SUMMARY_KEY = dg.AssetKey([scoring.SCHEMA, scoring.SUMMARY_TABLE])
EXPORT_KEY = dg.AssetKey(["marts_export"])
RETENTION_KEY = dg.AssetKey(["retention"])
# The exported marts: what the marts layer builds into schema marts (its helpers live elsewhere).
MART_KEYS = dbt_keys_in_schema(MARTS_SCHEMA, dbt_marts_assets)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key, group_name="raw", kinds={"duckdb"}, description="Raw landed rows with lineage"
        )
        for key in RAW_KEYS
    ],
    can_subset=False,
    name="ingest_landing",
    # A file system hiccup is worth another try: each file loads in its own transaction.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
)
def ingest_landing(context: dg.AssetExecutionContext, cif: CifResource):
    """Ingest landed files

    Load every new landed file into raw.*, quarantining bad rows (ingest/loader.py)."""
    with cif.connect(context) as con:
        results = load_landing(con, Path(cif.landing), on_file=lambda r: _log_file(context, r))
        pruned = prune_quarantine(con, cif.quarantine_keep_days)
    removed = [quarantine_note(pruned, cif.quarantine_keep_days)] if pruned else []
    for note in removed:
        context.log.info(note)
    by_source = summarize(results)
    loaded = [r for r in results if r.status == "loaded"]
    context.log.info(
        f"{len(loaded)} files loaded ({sum(r.rows_loaded for r in loaded):,} rows), "
        f"{sum(r.status == 'skipped' for r in results)} already loaded, "
        f"{sum(r.status == 'failed' for r in results)} failed"
    )
    failed = [f"{r.path}: {r.reason}" for r in results if r.status == "failed"]
    drift = [warning for r in results for warning in r.warnings]
    for key in RAW_KEYS:
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "by_source": dg.MetadataValue.json(by_source),
                "failed_files": dg.MetadataValue.json(failed),
                "warnings": dg.MetadataValue.json(drift),
                "retention": dg.MetadataValue.json(removed),
            }
            if key == RAW_KEYS[0]
            else None,
        )


def _log_file(context: dg.AssetExecutionContext, r) -> None:
    """A line in the run's log for a file that did not load cleanly (each line is an event in
    the run history: the clean ones are counted in the summary line instead)."""
    if r.status == "failed" or r.rows_quarantined or r.reason:
        context.log.warning(
            f"{r.status}: {r.path.name} ({r.rows_loaded} loaded, {r.rows_quarantined} "
            f"quarantined)" + (f" - {r.reason}" if r.reason else "")
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            IDENTITY_KEY,
            group_name="core",
            kinds={"python", "duckdb"},
            description="Source record -> stable customer_key (models/identity/)",
            deps=[dbt_asset_key(model) for model in IDENTITY_INPUTS],
        ),
        dg.AssetSpec(
            HOUSEHOLD_KEY,
            group_name="core",
            kinds={"python", "duckdb"},
            description="customer_key -> stable household_key with its evidence",
            deps=[IDENTITY_KEY],
        ),
        dg.AssetSpec(
            KEY_LOOKUP_KEY,
            group_name="core",
            kinds={"python", "duckdb"},
            description="Every customer_key ever issued -> its current key",
            deps=[IDENTITY_KEY],
        ),
    ],
    can_subset=False,
    name="customer_identity_map",
)
def customer_identity_map(context: dg.AssetExecutionContext, cif: CifResource):
    """Identity resolution

    Which source records are the same person and which form a household, with stable keys
    (models/identity/)."""
    with cif.connect(context) as con:
        result = resolve_identities(con, force=cif.full_refresh)
    if result.skipped:
        context.log.info("no new or changed customer records: linking and households skipped")
    yield dg.MaterializeResult(
        asset_key=IDENTITY_KEY,
        metadata={
            "source_records": result.records,
            "customers": result.customers,
            "new_customers": result.new_customers,
            "merges": result.merges,
            "splits": result.splits,
            "compared_records": result.compared_records,
            "model_trained": result.model_trained,
            "skipped": result.skipped,
        },
    )
    yield dg.MaterializeResult(asset_key=HOUSEHOLD_KEY, metadata={"households": result.households})
    yield dg.MaterializeResult(asset_key=KEY_LOOKUP_KEY)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SCORES_KEY,
            group_name="scores",
            kinds={"python", "duckdb"},
            deps=[dbt_asset_key(model) for model in scoring.DBT_INPUTS],
        ),
        dg.AssetSpec(MODEL_RUNS_KEY, group_name="scores", kinds={"python", "duckdb"}),
        dg.AssetSpec(SUMMARY_KEY, group_name="scores", kinds={"python", "duckdb"}),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "scores_available",
            asset=SCORES_KEY,
            blocking=False,
            description="the CLV models could be fitted and every customer with purchases is "
            "scored; where history is too short, the night publishes without scores (warning)",
        ),
        dg.AssetCheckSpec(
            "holdout_within_threshold",
            asset=MODEL_RUNS_KEY,
            blocking=False,
            description="the chosen models pass their holdout error thresholds (warning only)",
        ),
        dg.AssetCheckSpec(
            "attrition_beats_baseline",
            asset=MODEL_RUNS_KEY,
            blocking=False,
            description="the attrition classifier beats 1 - P(alive) on the holdout; where it "
            "does not, the run scores with the baseline (warning only)",
        ),
    ],
    name="customer_scoring",
)
def customer_scoring(context: dg.AssetExecutionContext, cif: CifResource):
    """CLV and attrition scoring

    Fit and validate the CLV models, score every customer as of the run date (models/)."""
    with cif.connect(context) as con:
        result = scoring.run_scoring(
            con,
            cif.as_of_date,
            context.run.run_id,
            scoring.ScoringConfig(
                force_refit=cif.full_refresh,
                scores_keep_days=cif.scores_keep_days,
                model_runs_keep_days=cif.model_runs_keep_days,
            ),
            plots_dir=Path(cif.exports) / "plots" / cif.as_of_date.isoformat(),
        )
    for warning in result.warnings:
        context.log.warning(warning)
    for note in result.removed:
        context.log.info(note)
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "customers_scored": result.customers_scored,
            "retention": dg.MetadataValue.json(result.removed),
        },
    )
    yield dg.MaterializeResult(asset_key=SUMMARY_KEY)
    yield dg.MaterializeResult(
        asset_key=MODEL_RUNS_KEY,
        metadata={
            "models": dg.MetadataValue.json(
                [
                    {k: m[k] for k in ("model_name", "parameters", "status", "holdout_metrics")}
                    for m in result.models
                ]
            ),
            "warnings": dg.MetadataValue.json(result.warnings),
            "selected_model": result.selected_model,
            "refitted": result.refitted,
            "refit_reason": result.refit_reason,
            "plots": dg.MetadataValue.md(plots_markdown(result.plots)),
            "plot_files": dg.MetadataValue.json([str(p) for p in result.plots]),
            **key_figures(result.models),  # numbers: Dagster charts them across runs
        },
    )
    yield dg.AssetCheckResult(
        asset_key=SCORES_KEY,
        check_name="scores_available",
        passed=result.unavailable is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"scores unavailable: {result.unavailable}"
        if result.unavailable
        else f"{result.customers_scored:,} customers scored",
    )
    yield dg.AssetCheckResult(
        asset_key=MODEL_RUNS_KEY,
        check_name="holdout_within_threshold",
        passed=result.holdout_ok,
        severity=dg.AssetCheckSeverity.WARN,
        description="poor fit: " + ", ".join(result.poor_fits)
        if result.poor_fits
        else f"holdout metrics within thresholds (chosen: {result.selected_model})",
    )
    yield dg.AssetCheckResult(
        asset_key=MODEL_RUNS_KEY,
        check_name="attrition_beats_baseline",
        passed=result.attrition_fallback is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=result.attrition_fallback or "the classifier scores attrition",
    )


def _checks_of_run(context: dg.AssetExecutionContext) -> list[dict]:
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    checks = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        checks.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
            }
        )
    return checks


@dg.asset(
    key=EXPORT_KEY,
    group_name="exports",
    kinds={"parquet"},
    deps=[PUBLISH_KEY],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
)
def marts_export(context: dg.AssetExecutionContext, cif: CifResource) -> dg.MaterializeResult:
    """Export the marts

    Every mart of the published warehouse for BI tools, with manifest.json, always as an
    analyst sees it (personal data pseudonymised or generalised): the nightly run never exports
    personal data in clear; `cif export --include-pii` does, for a role allowed to."""
    result = export_published(
        cif.published_path,
        Path(cif.exports),
        cif.as_of_date,
        context.run.run_id,
        checks=_checks_of_run(context),
        memory_limit=cif.memory_limit,
        keep_days=cif.export_keep_days,
    )
    if result.removed:
        context.log.info(removal_note(result.removed, cif.export_keep_days))
    return dg.MaterializeResult(
        metadata={
            "folder": str(result.folder),
            "removed_exports": dg.MetadataValue.json(result.removed),
            "tables": dg.MetadataValue.json(result.tables),
            "files_written": result.files_written,
            "files_shared": result.files_shared,  # unchanged: hard links to the previous export
            "role": result.role,
            "pii_excluded": dg.MetadataValue.json(result.excluded_pii),
        }
    )


@dg.asset(key=RETENTION_KEY, group_name="exports", deps=[PUBLISH_KEY])
def retention(context: dg.AssetExecutionContext, cif: CifResource) -> dg.MaterializeResult:
    """Retention

    Remove the run history, scoring plots and audit-log lookups past their retention
    (orchestration/retention.py), once the night is published."""
    beside = CifSettings(warehouse=cif.published_path)  # where the files beside it live
    runs = prune_run_history(
        context.instance,
        beside.dagster_home,
        beside.reports_dir,
        cif.run_history_keep_days,
        context.run.run_id,
    )
    plots = prune_plots(
        Path(cif.exports) / "plots", cif.export_keep_days, cif.as_of_date.isoformat()
    )
    lookups = prune_audit(beside.audit_log, cif.audit_keep_days)
    days = {
        "runs": cif.run_history_keep_days,
        "plots": cif.export_keep_days,
        "audit": cif.audit_keep_days,
    }
    removed = notes(runs, plots, lookups, days)
    for note in removed:
        context.log.info(note)
    return dg.MaterializeResult(metadata={"retention": dg.MetadataValue.json(removed)})


@dg.asset(key=PUBLISH_KEY, group_name="exports", kinds={"duckdb"}, deps=MART_KEYS)
def warehouse_published(
    context: dg.AssetExecutionContext, cif: CifResource
) -> dg.MaterializeResult:
    """Publish the warehouse

    Atomically replace the published warehouse with this run's working copy, after adding the
    run's rows per table and checks to its history (quality/run_history.py)."""
    with cif.connect(context) as con:
        record_publication(con, context.run.run_id, cif.as_of_date, _checks_of_run(context))
    path = cif.publish(context)
    return dg.MaterializeResult(
        metadata={
            "warehouse": str(path),
            "published_at": dt.datetime.now().isoformat(timespec="seconds"),
        }
    )
