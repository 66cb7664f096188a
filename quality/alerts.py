"""Alerts: a failed run or a failed blocking check is written down and sent to a hook.

Every alert is appended to an alerts file (JSON lines) and, when configured, passed as JSON on
the standard input of a shell command and/or POSTed to a webhook URL. A hook that fails is
reported in the delivery result; it never hides the alert or breaks the run's own report.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOOK_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Alert:
    run_id: str
    kind: str  # run_failed | blocking_check_failed
    summary: str
    failures: list[str] = field(default_factory=list)
    report: str | None = None  # path of the run's quality report
    raised_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class Delivery:
    recorded_in: Path
    hooks: dict[str, str] = field(default_factory=dict)  # hook -> "ok" or the error


def send_alert(
    alert: Alert, alerts_file: Path, command: str | None = None, webhook: str | None = None
) -> Delivery:
    """Record the alert, then call the configured hooks."""
    alerts_file.parent.mkdir(parents=True, exist_ok=True)
    with alerts_file.open("a") as handle:
        handle.write(alert.to_json() + "\n")
    delivery = Delivery(recorded_in=alerts_file)
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
