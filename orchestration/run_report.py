"""What happened in a run, read from its Dagster events: for `cif run` and the failure sensor.

Collecting is Dagster glue; what the outcome means (the failure paragraph, whether to alert)
is quality/alerts.py's, and the page is quality/report.py's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.settings import CifSettings
from orchestration.warehouse import WorkingCopy
from quality.alerts import (
    Delivery,
    FailedCheck,
    RunOutcome,
    WhereToLook,
    alert_for,
    explain_failure,
    send_alert,
)
from quality.report import RunFacts, render_report, write_report
from quality.report_data import WarehouseFacts, read_warehouse_facts

EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}
PUBLISH_STEP = "warehouse_published"
# The metadata key of a dbt model's output that says why the run rebuilt it in full
# (orchestration/dbt.py); absent when the night was added incrementally.
FULL_REBUILD = "full_rebuild_reason"


@dataclass
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    blocking: bool
    description: str = ""


@dataclass
class RunReport:
    run_id: str
    settings: CifSettings
    success: bool = False
    step_seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: dict[str, str] = field(default_factory=dict)
    skipped_steps: list[str] = field(default_factory=list)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_files: list[str] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    customers: int | None = None
    export_folder: str | None = None
    removed_exports: list[str] = field(default_factory=list)  # as-of dates past retention
    full_rebuild_reason: str | None = None  # why the derived tables were rebuilt in full
    removed: list[str] = field(default_factory=list)  # what the other retentions removed
    plots: list[Path] = field(default_factory=list)
    started_at: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log_file: Path | None = None
    report_file: Path | None = None
    alert: Delivery | None = None

    @property
    def blocking_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.blocking and not c.passed]

    @property
    def ok(self) -> bool:
        return self.success and not self.blocking_failures and not self.failed_steps

    @property
    def outcome(self) -> RunOutcome:
        published = PUBLISH_STEP in self.step_seconds and PUBLISH_STEP not in self.failed_steps
        failed_steps = dict(self.failed_steps)
        if not self.ok and not failed_steps and not self.blocking_failures:
            failed_steps["run"] = "the run did not finish (see its log)"
        return RunOutcome(
            run_id=self.run_id,
            failed_steps=failed_steps,
            blocking_failures=[
                FailedCheck(c.name, c.asset, c.description) for c in self.blocking_failures
            ],
            skipped_steps=self.skipped_steps,
            published=published,
        )

    @property
    def where(self) -> WhereToLook:
        warehouse = self.settings.warehouse
        return WhereToLook(
            warehouse, self.report_file, self.log_file, WorkingCopy(warehouse, self.run_id).folder
        )

    def explanation(self) -> str:
        """One paragraph naming what failed and where to look ("" when the run was ok)."""
        return "" if self.ok else explain_failure(self.outcome, self.where)


def step_of(entry: Any) -> str | None:
    return entry.step_key or (entry.dagster_event.step_key if entry.dagster_event else None)


def _error_chain(error: Any) -> list[str]:
    """Messages of an error and its causes, outermost first (Dagster wraps user errors)."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return messages or ["unknown error"]


def _step_failure(event: Any) -> str | None:
    """The message of a failed step; None for a step that only carried a failed blocking
    check (reported as the check itself)."""
    data = event.step_failure_data
    chain = _error_chain(data.error)
    if any(
        "Check failed with ERROR severity" in m or "blocking asset check failed" in m for m in chain
    ):
        return None
    if data.user_failure_data and data.user_failure_data.description:
        message = data.user_failure_data.description
    else:
        message = chain[-1]
    return " ".join(message.split())[:800]


def _materialized(report: RunReport, materialization: Any) -> None:
    meta = materialization.metadata
    if "by_source" in meta:
        report.by_source = meta["by_source"].value
        report.failed_files = list(meta["failed_files"].value)
    if "folder" in meta and materialization.asset_key.path == ["marts_export"]:
        report.export_folder = meta["folder"].value
        if "removed_exports" in meta:  # runs from before export retention have none
            report.removed_exports = list(meta["removed_exports"].value)
    if "warnings" in meta:
        report.warnings += list(meta["warnings"].value)
    if FULL_REBUILD in meta:
        report.full_rebuild_reason = meta[FULL_REBUILD].value
    if "retention" in meta:
        report.removed += list(meta["retention"].value)
    if "plot_files" in meta:
        report.plots = [Path(p) for p in meta["plot_files"].value]


def _collect(report: RunReport, records: list[Any], blocking: dict[str, bool]) -> None:
    starts: dict[str, float] = {}
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        step = step_of(entry) or ""
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts[step] = entry.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            report.step_seconds[step] = entry.timestamp - starts.get(step, entry.timestamp)
            message = _step_failure(event) if kind == dg.DagsterEventType.STEP_FAILURE else None
            if message:
                report.failed_steps[step] = message
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            _materialized(report, event.event_specific_data.materialization)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
            report.checks.append(
                CheckOutcome(
                    asset=evaluation.asset_key.to_user_string(),
                    name=evaluation.check_name,
                    passed=evaluation.passed,
                    blocking=blocking.get(key.to_user_string(), False)
                    and evaluation.severity == dg.AssetCheckSeverity.ERROR,
                    description="; ".join((evaluation.description or "").splitlines()),
                )
            )


def blocking_checks(job: dg.JobDefinition) -> dict[str, bool]:
    """Check key ("asset:check") -> whether it blocks what depends on it."""
    graph = job.asset_layer.asset_graph
    return {
        key.to_user_string(): graph.get_check_spec(key).blocking for key in graph.asset_check_keys
    }


def collect_report(
    instance: dg.DagsterInstance,
    run_id: str,
    settings: CifSettings,
    job: dg.JobDefinition,
    success: bool,
) -> RunReport:
    """What happened in a run, from its events."""
    report = RunReport(run_id=run_id, settings=settings, success=success)
    stats = instance.get_run_stats(run_id)
    if stats.start_time:  # local time, whole seconds: as ingest stamps its batches
        report.started_at = dt.datetime.fromtimestamp(int(stats.start_time))
        report.seconds = (stats.end_time or stats.start_time) - stats.start_time
    records = instance.get_records_for_run(run_id, of_type=EVENTS).records
    _collect(report, records, blocking_checks(job))
    report.skipped_steps = [
        node.name for node in job.nodes_in_topological_order if node.name not in report.step_seconds
    ]
    return report


UI_URL = "http://127.0.0.1:3000"  # where `cif ui` serves by default


def _run_facts(report: RunReport) -> RunFacts:
    links = {"Dagster run (under cif ui)": f"{UI_URL}/runs/{report.run_id}"}
    if report.log_file:
        links["run log"] = report.log_file.resolve().as_uri()
    if report.export_folder:
        links["exports"] = Path(report.export_folder).absolute().as_uri()
    links["warehouse"] = report.settings.warehouse.resolve().as_uri()
    return RunFacts(
        run_id=report.run_id,
        as_of=report.settings.as_of.isoformat(),
        ok=report.ok,
        checks=[vars(c) for c in report.checks],
        failed_steps=report.failed_steps,
        by_source=report.by_source,
        notes=[*report.warnings, *(f"unreadable file: {f}" for f in report.failed_files)],
        build=rebuilt_in_full(report.full_rebuild_reason) if report.full_rebuild_reason else "",
        explanation=report.explanation(),
        seconds=report.seconds,
        step_seconds=report.step_seconds,
        skipped_steps=report.skipped_steps,
        links=links,
        plots=report.plots,
    )


def rebuilt_in_full(reason: str) -> str:
    """The sentence of the summary and the report for a night that rebuilt in full."""
    return f"The derived tables were rebuilt in full: {reason}."


def report_warehouse(report: RunReport) -> Path:
    """The file the run left: its working copy when it was not published, else the published
    warehouse."""
    working = WorkingCopy(report.settings.warehouse, report.run_id).path
    return working if working.exists() else report.settings.warehouse


def finish_report(report: RunReport, instance: dg.DagsterInstance | None = None) -> None:
    """Write the run's report (and name it on the Dagster run) and raise the alert the policy
    asks for."""
    settings = report.settings
    if report.outcome.disk_full:  # a small page: the alert after it must still fit
        facts = WarehouseFacts(report_warehouse(report), problems=["the disk is full: "
                               "the warehouse's figures are left out of this report"])  # fmt: skip
    else:
        facts = read_warehouse_facts(report_warehouse(report), report.run_id, report.started_at)
    try:
        page = render_report(_run_facts(report), facts)
        report.report_file = write_report(settings.reports_dir, report.run_id, page)
    except OSError as exc:  # a full disk: the summary and the alert still say what happened
        report.warnings.append(f"the run report could not be written: {exc}")
    if instance is not None and report.report_file:
        try:
            instance.add_run_tags(
                report.run_id, {"cif/report": report.report_file.resolve().as_uri()}
            )
        except Exception as exc:  # e.g. a full disk under the run history: say it, go on
            report.warnings.append(f"the Dagster run could not be tagged with its report: {exc}")
    alert = None if report.ok else alert_for(report.outcome, report.where)
    if alert:
        report.alert = send_alert(
            alert, settings.alerts_file, settings.alert_command, settings.alert_webhook
        )
