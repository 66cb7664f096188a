"""The run summary printed at the end of `cif run`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ingest.loader import SUMMARY_COLUMNS
from orchestration.exports import removal_note
from orchestration.run_report import RunReport, rebuilt_in_full


def print_summary(console: Console, report: RunReport) -> None:
    sources = Table(title="Rows per source", title_justify="left")
    sources.add_column("source")
    for heading in SUMMARY_COLUMNS.values():
        sources.add_column(heading, justify="right")
    for name, s in sorted(report.by_source.items()):
        sources.add_row(name, *(f"{s.get(k, 0):,}" for k in SUMMARY_COLUMNS))
    if not report.by_source:
        sources.add_row("(no files landed)", *("" for _ in SUMMARY_COLUMNS))
    console.print(sources)

    stages = Table(title="Time per stage", title_justify="left")
    stages.add_column("step")
    stages.add_column("seconds", justify="right")
    stages.add_column("status")
    for step, seconds in report.step_seconds.items():
        status = "[red]failed[/red]" if step in report.failed_steps else "ok"
        stages.add_row(step, f"{seconds:.1f}", status)
    for step in report.skipped_steps:
        stages.add_row(step, "", "[yellow]skipped[/yellow]")
    console.print(stages)

    passed = sum(c.passed for c in report.checks)
    failing = [c for c in report.checks if not c.passed]
    checks = Table(
        title=f"Checks: {passed} passed, {len(failing)} failed"
        + (" (only failures are listed)" if failing else ""),
        title_justify="left",
    )
    checks.add_column("check")
    checks.add_column("asset")
    checks.add_column("result")
    checks.add_column("what failed")
    for c in sorted(failing, key=lambda c: (not c.blocking, c.asset, c.name)):
        result = "[red]FAILED (blocking)[/red]" if c.blocking else "[yellow]warning[/yellow]"
        checks.add_row(c.name, c.asset, result, c.description[:300])
    if failing:
        console.print(checks)
    else:
        console.print(checks.title)

    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for failed in report.failed_files:
        console.print(f"[yellow]unreadable file:[/yellow] {failed}")
    customers = f"{report.customers:,}" if report.customers is not None else "n/a"
    state = "[green]succeeded[/green]" if report.ok else "[red]FAILED[/red]"
    # A file URI: a terminal makes it clickable, a browser opens it without a server.
    report_link = report.report_file.resolve().as_uri() if report.report_file else "(not written)"
    console.print(
        f"Run {report.run_id} {state} in {report.seconds:.1f} s.\n"
        f"Customers in the 360 view: {customers}\n"
        f"Warehouse: {report.settings.warehouse}\n"
        f"Exports:   {report.export_folder or '(none written)'}\n"
        f"Run report: {report_link}"
    )
    if report.full_rebuild_reason:
        console.print(rebuilt_in_full(report.full_rebuild_reason))
    if report.removed_exports:
        console.print(removal_note(report.removed_exports, report.settings.export_keep_days))
    # scores and quarantine detail go in the run's working copy: removed only if it is published
    if report.outcome.published:
        for note in report.removed:
            console.print(note)
    if report.alert:
        hooks = ", ".join(f"{hook}: {result}" for hook, result in report.alert.hooks.items())
        recorded = (
            f"recorded in {report.alert.recorded_in}"
            if report.alert.recorded_in
            else f"NOT recorded ({report.alert.not_recorded})"
        )
        console.print(
            f"[red]Alert raised[/red], {recorded}"
            + (f" ({hooks})" if hooks else " (no alert hook configured)")
        )
