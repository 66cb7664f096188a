"""`cif run`: execute the nightly job of the Definitions in-process and report on it.

The job runs in a worker thread while the main thread follows its events in the Dagster
instance (shared with `cif ui`, so every run shows up there) to drive the progress display.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from ingest.warehouse import connection
from orchestration.resources import CifResource, release_run
from orchestration.settings import CifSettings
from orchestration.warehouse import WarehouseBusyError, WriterLock
from quality.alerts import Alert, Delivery, send_alert
from quality.report import render_report, write_report

EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


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

    def explanation(self) -> str:
        """One paragraph naming what failed and where to look."""
        if self.ok:
            return ""
        parts = []
        for step, error in self.failed_steps.items():
            parts.append(f"step '{step}' failed: {error}")
        for check in self.blocking_failures:
            parts.append(
                f"blocking check '{check.name}' on {check.asset} failed: {check.description}"
            )
        if self.skipped_steps:
            parts.append("so these steps did not run: " + ", ".join(self.skipped_steps))
        where = (
            f"The published warehouse {self.settings.warehouse} was left unchanged. "
            + (
                f"Look at the quality report {self.report_file}, "
                if self.report_file
                else "Look at "
            )
            + f"the log {self.log_file}, at run {self.run_id} in the Dagster UI (`cif ui`)"
            f", and at this run's working copy in {self.settings.warehouse.parent / '.work' / self.run_id}"
            " (removed by the next run)."
        )
        return "The nightly run failed: " + "; ".join(parts) + ". " + where


def dagster_instance(settings: CifSettings) -> dg.DagsterInstance:
    """The persistent instance beside the warehouse (run history for `cif ui`)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def _step_of(entry: Any) -> str | None:
    return entry.step_key or (entry.dagster_event.step_key if entry.dagster_event else None)


def _error_chain(error: Any) -> list[str]:
    """Messages of an error and its causes, outermost first (Dagster wraps user errors)."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return messages or ["unknown error"]


def _collect(report: RunReport, records: list[Any], blocking: dict[str, bool]) -> None:
    starts: dict[str, float] = {}
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        step = _step_of(entry) or ""
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts[step] = entry.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            report.step_seconds[step] = entry.timestamp - starts.get(step, entry.timestamp)
            if kind == dg.DagsterEventType.STEP_FAILURE:
                data = event.step_failure_data
                if data.user_failure_data and data.user_failure_data.description:
                    message = data.user_failure_data.description
                else:
                    message = _error_chain(data.error)[-1]
                # A failed blocking check is reported as the check itself, not as a step error.
                if not any(
                    "Check failed with ERROR severity" in m for m in _error_chain(data.error)
                ):
                    report.failed_steps[step] = " ".join(message.split())[:800]
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            meta = materialization.metadata
            if "by_source" in meta:
                report.by_source = meta["by_source"].value
                report.failed_files = list(meta["failed_files"].value)
            if "folder" in meta and materialization.asset_key.path == ["marts_export"]:
                report.export_folder = meta["folder"].value
            if "warnings" in meta:
                report.warnings += list(meta["warnings"].value)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            name = evaluation.check_name
            report.checks.append(
                CheckOutcome(
                    asset=evaluation.asset_key.to_user_string(),
                    name=name,
                    passed=evaluation.passed,
                    blocking=blocking.get(name, False)
                    and evaluation.severity == dg.AssetCheckSeverity.ERROR,
                    description="; ".join((evaluation.description or "").splitlines()),
                )
            )


def blocking_checks(defs: dg.Definitions) -> dict[str, bool]:
    """Check name -> whether it blocks what depends on it (GX, reconciliation and dbt tests)."""
    specs = [spec for c in defs.asset_checks or [] for spec in c.check_specs]
    specs += [spec for a in defs.assets or [] for spec in getattr(a, "check_specs", [])]
    return {spec.key.name: spec.blocking for spec in specs}


def collect_report(
    instance: dg.DagsterInstance,
    run_id: str,
    settings: CifSettings,
    job: dg.JobDefinition,
    blocking: dict[str, bool],
    success: bool,
) -> RunReport:
    """What happened in a run, from its events (for `cif run` and the failure sensor alike)."""
    report = RunReport(run_id=run_id, settings=settings, success=success)
    records = instance.get_records_for_run(run_id, of_type=EVENTS).records
    _collect(report, records, blocking)
    report.skipped_steps = [
        node.name for node in job.nodes_in_topological_order if node.name not in report.step_seconds
    ]
    return report


def finish_report(report: RunReport) -> None:
    """Write the run's quality report and, if the run failed, raise an alert."""
    settings = report.settings
    page = render_report(
        report.run_id,
        settings.as_of.isoformat(),
        report.ok,
        [vars(c) for c in report.checks],
        report.failed_steps,
        report.by_source,
        notes=[*report.warnings, *(f"unreadable file: {f}" for f in report.failed_files)],
    )
    report.report_file = write_report(settings.reports_dir, report.run_id, page)
    if report.ok:
        return
    kind = "blocking_check_failed" if report.blocking_failures else "run_failed"
    failures = [f"step {s}: {e}" for s, e in report.failed_steps.items()]
    failures += [f"check {c.name} on {c.asset}: {c.description}" for c in report.blocking_failures]
    alert = Alert(report.run_id, kind, report.explanation(), failures, str(report.report_file))
    report.alert = send_alert(
        alert, settings.alerts_file, settings.alert_command, settings.alert_webhook
    )


def run_nightly(
    settings: CifSettings, on_event: Callable[[str, str], None] | None = None
) -> RunReport:
    """Run the nightly job; `on_event(kind, step)` is called as steps start and finish."""
    from orchestration.definitions import build_definitions

    run_id = str(uuid.uuid4())
    ensure_not_busy(settings)  # fail fast, before Dagster starts
    _stoppable_by_sigterm()
    defs = build_definitions(settings)
    job = defs.resolve_job_def("nightly")
    instance = dagster_instance(settings)
    close_abandoned_runs(instance)
    run_config = {
        **CifResource.run_config(settings),
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                tags={"cif/as_of": settings.as_of.isoformat(), "cif/trigger": "cif run"},
            )
            outcome["success"] = result.success
        except Exception as exc:  # a definition or instance error, not a step failure
            outcome["error"] = exc
        finally:
            release_run(run_id)

    started = time.perf_counter()
    log_file = settings.dagster_home / "logs" / f"{run_id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log, contextlib.redirect_stdout(log):
        _follow(instance, run_id, execute, on_event)
    report = collect_report(
        instance, run_id, settings, job, blocking_checks(defs), bool(outcome.get("success"))
    )
    report.seconds = time.perf_counter() - started
    report.log_file = log_file
    if "error" in outcome:
        report.failed_steps["run"] = " ".join(str(outcome["error"]).split())[:600]
    if report.ok or settings.warehouse.exists():
        report.customers = count_customers(settings.warehouse)
    finish_report(report)
    return report


def _stoppable_by_sigterm() -> None:
    """Undo an inherited 'ignore SIGTERM' (Dagster run in the main thread of a parent that
    ignores SIGINT passes one on): `kill` must stop a run, and Dagster's compute-log `tail`
    helpers, which inherit the disposition, must stop when Dagster terminates them, or they
    outlive the run holding its output open. Signal handlers belong to the main thread."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _follow(
    instance: dg.DagsterInstance,
    run_id: str,
    execute: Callable[[], None],
    on_event: Callable[[str, str], None] | None,
) -> None:
    """Run `execute` in a thread and pass the run's step events to `on_event` as they happen."""
    worker = threading.Thread(target=execute, name="cif-nightly", daemon=True)
    worker.start()
    cursor = None
    while True:
        alive = worker.is_alive()
        if instance.has_run(run_id):
            conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=EVENTS)
            cursor = conn.cursor
            for record in conn.records:
                if on_event:
                    event = record.event_log_entry.dagster_event
                    on_event(event.event_type.value, _step_of(record.event_log_entry) or "")
        if not alive:
            return
        time.sleep(0.2)


def count_customers(warehouse: Path) -> int | None:
    """Customers in the published customer 360 (None if there is none yet)."""
    if not warehouse.exists():
        return None
    try:
        with connection(warehouse, read_only=True) as con:
            row = con.execute("select count(*) from marts.customer_360").fetchone()
            return int(row[0]) if row else 0
    except Exception:  # no marts yet, or the file is locked by a writer
        return None


def close_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """`cif run` runs still marked started although nobody holds the warehouse (checked just
    before): their process was killed. Mark them failed so that the run history is true."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED], tags={"cif/trigger": "cif run"}
        )
    )
    for run in runs:
        instance.report_run_failed(
            run,
            message="The process running it ended before the run finished (killed or crashed); "
            "the published warehouse was left as it was and a later run did the work.",
        )
    return [run.run_id for run in runs]


def ensure_not_busy(settings: CifSettings) -> None:
    """Raise WarehouseBusyError if another run holds the warehouse."""
    WriterLock(settings.warehouse, "probe").acquire().release()


__all__ = [
    "RunReport",
    "WarehouseBusyError",
    "close_abandoned_runs",
    "dagster_instance",
    "ensure_not_busy",
    "run_nightly",
]
