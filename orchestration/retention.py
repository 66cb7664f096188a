"""Retention of the files beside the warehouse that grow with nights: Dagster's run history with
each run's log and report, the scoring plots, the frontline audit log. Called after publish
(assets.retention), so a failed night removes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg

from frontline import audit

FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def _cutoff(keep_days: int, now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days)


def _older(path: Path, cutoff: dt.datetime) -> bool:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < cutoff


def prune_run_history(
    instance: dg.DagsterInstance,
    home: Path,
    reports: Path,
    keep_days: int,
    current_run_id: str,
    now: dt.datetime | None = None,
) -> list[str]:
    """Remove the finished runs created more than `keep_days` ago (0: keep for ever) from the
    Dagster instance in `home` (their events and event database: instance.py), with their
    compute logs, log and report files, and any such file older than that (a run's files
    outlive a history deleted by hand); never `latest.html` nor this run's. Returns the
    removed runs' ids."""
    if not keep_days:
        return []
    cutoff = _cutoff(keep_days, now)
    old = instance.get_run_records(dg.RunsFilter(created_before=cutoff, statuses=FINISHED))
    removed = [r.dagster_run.run_id for r in old if r.dagster_run.run_id != current_run_id]
    for run_id in removed:
        instance.delete_run(run_id)
        shutil.rmtree(home / "storage" / run_id, ignore_errors=True)  # compute logs
    gone = set(removed)
    logs = home / "logs"
    for folder, pattern in ((logs, "*.log"), (reports, "*.html")):
        for path in folder.glob(pattern) if folder.is_dir() else []:
            if path.name == "latest.html" or path.stem == current_run_id:
                continue
            if path.stem in gone or _older(path, cutoff):
                path.unlink(missing_ok=True)
    return removed


def prune_plots(
    plots: Path, keep_days: int, current: str, now: dt.datetime | None = None
) -> list[str]:
    """Remove the `<plots>/<as_of>/` folders written more than `keep_days` ago (0: keep for
    ever), never tonight's; returns their as-of dates."""
    if not keep_days or not plots.is_dir():
        return []
    cutoff = _cutoff(keep_days, now)
    stale = sorted(
        p for p in plots.iterdir() if p.is_dir() and p.name != current and _older(p, cutoff)
    )
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return [p.name for p in stale]


def prune_audit(log: Path, keep_days: int, now: dt.datetime | None = None) -> int:
    """Drop the audit log's lookups older than `keep_days` (0: keep for ever)."""
    return audit.drop_before(log, _cutoff(keep_days, now)) if keep_days else 0


def notes(runs: list[str], plots: list[str], lookups: int, days: dict[str, int]) -> list[str]:
    """What the run's log and summary say of what was removed."""
    said = []
    if runs:
        said.append(
            f"Run history older than {days['runs']} days removed (CIF_RUN_HISTORY_KEEP_DAYS): "
            f"{len(runs)} run(s) with their logs and reports"
        )
    if plots:
        said.append(
            f"Plots written more than {days['plots']} days ago removed (CIF_EXPORT_KEEP_DAYS): "
            + ", ".join(plots)
        )
    if lookups:
        said.append(
            f"Audit log lookups older than {days['audit']} days removed "
            f"(CIF_AUDIT_KEEP_DAYS): {lookups}"
        )
    return said
