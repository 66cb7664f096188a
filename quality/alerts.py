"""Alerts: a failed run or a failed blocking check is written down and sent to a hook.

Every alert is appended to an alerts file (JSON lines) and, when configured, passed as JSON on
the standard input of a shell command and/or POSTed to a webhook URL. A hook that fails is
reported in the delivery result; it never hides the alert or breaks the run's own report.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOOK_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Alert:
    run_id: str
    kind: str  # run_failed | blocking_check_failed
    summary: str
    failures: list[str] = field(default_factory=list)
    report: str | None = None  # path of the run report
    raised_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class FailedCheck:
    check: str
    table: str
    what_failed: str


# How a full disk shows in the errors of the parts that write (the OS, DuckDB, SQLite).
DISK_FULL = ("no space left on device", "database or disk is full", "disk quota exceeded")


@dataclass(frozen=True)
class RunOutcome:
    """What went wrong in a run, in the terms the alert policy needs."""

    run_id: str
    failed_steps: Mapping[str, str] = field(default_factory=dict)
    blocking_failures: Sequence[FailedCheck] = ()
    skipped_steps: Sequence[str] = ()
    published: bool = False  # the run's warehouse replaced the published one

    @property
    def failed(self) -> bool:
        return bool(self.failed_steps or self.blocking_failures)

    @property
    def disk_full(self) -> bool:
        errors = " ".join(self.failed_steps.values()).lower()
        return any(sign in errors for sign in DISK_FULL)


@dataclass(frozen=True)
class WhereToLook:
    warehouse: Path
    report: Path | None
    log: Path | None
    working_copy: Path


def explain_failure(outcome: RunOutcome, where: WhereToLook) -> str:
    """One paragraph naming what failed, what that did to the published warehouse, and where
    to look."""
    if not outcome.failed:
        return ""
    parts = [f"step '{step}' failed: {error}" for step, error in outcome.failed_steps.items()]
    parts += [
        f"blocking check '{c.check}' on {c.table} failed: {c.what_failed}"
        for c in outcome.blocking_failures
    ]
    if outcome.skipped_steps:
        parts.append("so these steps did not run: " + ", ".join(outcome.skipped_steps))
    state = _disk_full_advice(where) if outcome.disk_full else ""
    if outcome.published:
        state += f"The warehouse {where.warehouse} was published by this run; only what came after failed. "
    elif where.warehouse.exists():
        state += f"The published warehouse {where.warehouse} was left unchanged. "
    else:
        state += f"No warehouse was published at {where.warehouse}. "
    report = f"Look at the run report {where.report}, " if where.report else "Look at "
    copy = ""
    if not outcome.published and not outcome.disk_full:
        copy = f", and at this run's working copy in {where.working_copy} (removed by the next run)"
    return (
        f"The nightly run failed: {'; '.join(parts)}. {state}{report}the log {where.log}, "
        f"at run {outcome.run_id} in the Dagster UI (`cif ui`){copy}."
    )


def _disk_full_advice(where: WhereToLook) -> str:
    folder = where.warehouse.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:,.0f} MB free now"
    except OSError:
        free = "free space unknown"
    return (
        f"The disk holding {folder} is full ({free}): free space there, or move the warehouse "
        "(CIF_WAREHOUSE, --warehouse) and exports (CIF_EXPORTS, --exports), then run again; "
        "this run's working copy was removed to give the space back. "
    )


def alert_for(outcome: RunOutcome, where: WhereToLook) -> Alert | None:
    """The alert policy: a failed step or a failed blocking check raises one alert per run;
    warnings do not."""
    if not outcome.failed:
        return None
    kind = "blocking_check_failed" if outcome.blocking_failures else "run_failed"
    failures = [f"step {s}: {e}" for s, e in outcome.failed_steps.items()]
    failures += [
        f"check {c.check} on {c.table}: {c.what_failed}" for c in outcome.blocking_failures
    ]
    report = str(where.report) if where.report else None
    return Alert(outcome.run_id, kind, explain_failure(outcome, where), failures, report)


@dataclass
class Delivery:
    recorded_in: Path | None  # None: the alerts file could not be written (see not_recorded)
    hooks: dict[str, str] = field(default_factory=dict)  # hook -> "ok" or the error
    not_recorded: str | None = None


def send_alert(
    alert: Alert, alerts_file: Path, command: str | None = None, webhook: str | None = None
) -> Delivery:
    """Record the alert, then call the configured hooks (also when it cannot be recorded: a
    full disk must still reach whoever is on call)."""
    delivery = Delivery(recorded_in=alerts_file)
    try:
        alerts_file.parent.mkdir(parents=True, exist_ok=True)
        with alerts_file.open("a") as handle:
            handle.write(alert.to_json() + "\n")
    except OSError as exc:
        delivery.recorded_in, delivery.not_recorded = None, str(exc)
    if command:
        delivery.hooks["command"] = _run_command(command, alert)
    if webhook:
        delivery.hooks["webhook"] = _post(webhook, alert)
    return delivery


def _run_command(command: str, alert: Alert) -> str:
    try:
        done = subprocess.run(
            command,
            shell=True,
            input=alert.to_json(),
            text=True,
            capture_output=True,
            timeout=HOOK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {HOOK_TIMEOUT_SECONDS} s"
    return "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[:200]}"


def _post(url: str, alert: Alert) -> str:
    request = urllib.request.Request(
        url,
        data=alert.to_json().encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HOOK_TIMEOUT_SECONDS) as response:
            return "ok" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except OSError as exc:
        return f"failed: {exc}"
