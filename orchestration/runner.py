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
from typing import Any

import dagster as dg

from orchestration.instance import dagster_instance
from orchestration.jobs import NIGHTLY_JOB, step_labels
from orchestration.origin import execute_with_origin
from orchestration.resources import CifResource, claim_warehouse, release_run
from orchestration.run_log import RunLog
from orchestration.run_report import EVENTS, RunReport, collect_report, finish_report, step_of
from orchestration.settings import CifSettings
from orchestration.warehouse import WarehouseBusyError, WorkingCopy, WriterLock
from quality.figures import customers_in_360


def run_nightly(
    settings: CifSettings,
    defs: dg.Definitions,
    on_event: Callable[[str, str, str], None] | None = None,
) -> RunReport:
    """Run the nightly job of `defs`; `on_event(kind, step, label)` is called as steps start
    and finish."""
    run_id = str(uuid.uuid4())
    # The lock is taken before Dagster starts and held to the end: of two runs started at the
    # same moment, the second stops here with WarehouseBusyError, not inside a step.
    claim_warehouse(settings.warehouse, run_id)
    try:
        return _run(settings, defs, run_id, on_event)
    finally:
        release_run(run_id)


def _run(
    settings: CifSettings,
    defs: dg.Definitions,
    run_id: str,
    on_event: Callable[[str, str, str], None] | None,
) -> RunReport:
    _stoppable_by_sigterm()
    job = defs.resolve_job_def(NIGHTLY_JOB)
    instance = dagster_instance(settings)
    close_abandoned_runs(instance)
    run_config = {
        **CifResource.run_config(settings),
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            outcome["success"] = execute_with_origin(
                job,
                run_config,
                instance,
                run_id,
                tags={"cif/as_of": settings.as_of.isoformat(), "cif/trigger": "cif run"},
            )
        except Exception as exc:  # a definition or instance error, not a step failure
            outcome["error"] = exc

    started = time.perf_counter()
    log_file = settings.dagster_home / "logs" / f"{run_id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with RunLog(log_file) as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        _follow(instance, run_id, execute, on_event, step_labels(job))
    report = collect_report(instance, run_id, settings, job, bool(outcome.get("success")))
    report.seconds = time.perf_counter() - started
    report.log_file = log_file
    if "error" in outcome:
        report.failed_steps["run"] = " ".join(str(outcome["error"]).split())[:600]
    report.customers = customers_in_360(settings.warehouse)
    if report.outcome.disk_full:  # give the space back; the paragraph says so
        WorkingCopy(settings.warehouse, run_id).discard()
    finish_report(report, instance)
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
    on_event: Callable[[str, str, str], None] | None,
    labels: dict[str, str],
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
                    step = step_of(record.event_log_entry) or ""
                    on_event(event.event_type.value, step, labels.get(step, step))
        if not alive:
            return
        time.sleep(0.2)


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
