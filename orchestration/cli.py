"""The `cif` command line (typer): generate, run, export, ui, customer find|show, serve."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from orchestration.settings import DEFAULT_EXPORTS, DEFAULT_LANDING, DEFAULT_WAREHOUSE, CifSettings

app = typer.Typer(
    help="Customer Information Factory: integrate every channel's customer data into one "
    "historized DuckDB warehouse, score it and export marts for BI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Bound to the real stdout now (a run redirects sys.stdout to its log); logs of unattended
# runs are not wrapped at 80 columns.
console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

LandingOpt = Annotated[
    Path | None,
    typer.Option("--landing", help=f"Landing zone (env CIF_LANDING; default ./{DEFAULT_LANDING})"),
]
WarehouseOpt = Annotated[
    Path | None,
    typer.Option(
        "--warehouse", help=f"DuckDB file (env CIF_WAREHOUSE; default ./{DEFAULT_WAREHOUSE})"
    ),
]
ExportsOpt = Annotated[
    Path | None,
    typer.Option(
        "--exports", help=f"Exports folder (env CIF_EXPORTS; default ./{DEFAULT_EXPORTS})"
    ),
]


def _parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _parse_time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date or time (YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS')",
            param_hint=name,
        ) from None


def _settings_or_exit(**overrides: object) -> CifSettings:
    """The settings, or exit 2 naming what is wrong (a bad CIF_ROLE, a reserved file name)."""
    try:
        return CifSettings.load(**overrides)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Landing zone to write")] = Path("landing"),
    customers: Annotated[
        int, typer.Option("--customers", min=10, help="People to simulate")
    ] = 2000,
    start: Annotated[
        str | None, typer.Option("--start", help="First business date (default: end - 2 years)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last business date (default: yesterday)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files")] = 7,
) -> None:
    """Write realistic multi-channel demo files into a landing zone, and the truth into _truth/."""
    from ingest.demo.generator import generate as run_generate

    with console.status(f"Simulating {customers:,} customers..."):
        summary = run_generate(
            out,
            customers=customers,
            start=_parse_date(start, "--start"),
            end=_parse_date(end, "--end"),
            seed=seed,
        )
    console.print(
        f"Wrote {len(summary.files)} files ({summary.rows:,} rows, {summary.people:,} people) to {out}"
    )


def _run_on_spark(settings) -> None:
    """CIF_ENGINE=spark: ingest, every dbt layer on Spark and the Python steps, under the
    writer lock (orchestration/engines.py). The Dagster checks, publish and export run on the
    DuckDB engine only, so far (README: Spark engine)."""
    from orchestration.dbt_project import DbtError
    from orchestration.engines import build_warehouse
    from orchestration.warehouse import WriterLock

    console.print(f"Build as of {settings.as_of} on Spark (ledger {settings.warehouse})")
    with WriterLock(settings.warehouse, "spark build"):
        try:
            with console.status("Ingest, dbt on Spark, identity, scoring..."):
                result = build_warehouse(settings)
        except DbtError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    for step, seconds in result.seconds.items():
        console.print(f"  {step:<18} {seconds:8.1f} s")
    console.print(f"{result.files_loaded} files loaded; marts in {result.home}")


@app.command()
def run(
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    exports: ExportsOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Business date of the run (default: today)")
    ] = None,
    as_known_at: Annotated[
        str | None,
        typer.Option("--as-known-at", help="Use only rows loaded by then (reproduce a past run)"),
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every derived table from raw")
    ] = False,
) -> None:
    """The nightly job: ingest new files, build, score, check, publish, export; then a summary."""
    from orchestration.dbt_project import prepare_manifest
    from orchestration.runner import WarehouseBusyError, ensure_not_busy, run_nightly
    from orchestration.summary import print_summary

    settings = _settings_or_exit(
        landing=landing,
        warehouse=warehouse,
        exports=exports,
        as_of=_parse_date(as_of, "--as-of"),
        as_known_at=_parse_time(as_known_at, "--as-known-at"),
        full_refresh=full_refresh or None,
    )
    if not settings.landing.exists():  # before the lock: a typo must not create files
        err.print(
            f"[red]The landing zone {settings.landing} does not exist.[/red] "
            "Create it, or write demo data with `cif generate --out DIR`."
        )
        raise typer.Exit(2)
    try:
        ensure_not_busy(settings)
    except WarehouseBusyError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    if settings.engine == "spark":
        _run_on_spark(settings)
        return
    console.print(f"Nightly run as of {settings.as_of} on {settings.warehouse}")
    with console.status("Preparing the dbt project (dbt parse)..."):
        prepare_manifest()
        from orchestration.definitions import build_definitions

        defs = build_definitions(settings)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, int] = {}

        def on_event(kind: str, step: str, label: str) -> None:
            if kind == "STEP_START" and label != step:  # steps that build assets have labels
                tasks[step] = bar.add_task(label, total=1)
            elif step in tasks and kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                mark = "[green]done[/green]" if kind == "STEP_SUCCESS" else "[red]FAILED[/red]"
                bar.update(tasks[step], completed=1, description=f"{label}: {mark}")

        try:
            report = run_nightly(settings, defs, on_event=on_event)
        except WarehouseBusyError as exc:  # another run took it since the check above
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(3) from None
    print_summary(console, report)
    if not report.ok:
        err.print(f"[red]{report.explanation()}[/red]")
        raise typer.Exit(1)


@app.command()
def export(
    warehouse: WarehouseOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help=f"Exports folder (env CIF_EXPORTS; default ./{DEFAULT_EXPORTS})"
        ),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    include_pii: Annotated[
        bool,
        typer.Option(
            "--include-pii",
            help="Personal data as your role sees it [env CIF_ROLE: agent or admin] instead of "
            "pseudonymised",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Folder name (default: the as-of date of the published warehouse)"
        ),
    ] = None,
) -> None:
    """Write every mart of the published warehouse for BI tools (and manifest.json): personal
    data pseudonymised or generalised, unless --include-pii (then as CIF_ROLE sees it)."""
    from ingest.privacy import AccessDenied
    from orchestration.exports import export_published, removal_note

    if file_format not in ("parquet", "csv"):
        raise typer.BadParameter("use parquet or csv", param_hint="--format")
    settings = _settings_or_exit(
        warehouse=warehouse, exports=out, as_of=_parse_date(as_of, "--as-of")
    )
    if not settings.warehouse.exists():
        err.print(f"[red]No warehouse at {settings.warehouse}.[/red] Run `cif run` first.")
        raise typer.Exit(2)
    try:
        result = export_published(
            settings.warehouse,
            settings.exports,
            settings.as_of if as_of else None,
            f"export-{dt.datetime.now():%Y%m%dT%H%M%S}",
            include_pii=include_pii,
            file_format=file_format,
            role=settings.role,
            memory_limit=settings.memory_limit,
            keep_days=settings.export_keep_days,
        )
    except AccessDenied as exc:
        err.print(f"[red]{exc}.[/red] Set CIF_ROLE=agent or admin if you are one.")
        raise typer.Exit(2) from None
    for table, rows in result.tables.items():
        console.print(f"{table}: {rows:,} rows")
    shown = (
        f"personal data as the {result.role} role sees it"
        if include_pii
        else "personal data pseudonymised or generalised; --include-pii for your role's view"
    )
    console.print(f"Exported {len(result.tables)} tables to {result.folder} ({shown})")
    console.print(
        f"{result.files_written} files written, {result.files_shared} unchanged files shared "
        "with the previous export (hard links)"
    )
    if result.removed:
        console.print(removal_note(result.removed, settings.export_keep_days))


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 3000,
    landing: LandingOpt = None,
    warehouse: WarehouseOpt = None,
    exports: ExportsOpt = None,
) -> None:
    """Start the Dagster UI on 127.0.0.1 over the same definitions as `cif run`."""
    from orchestration.dbt_project import prepare_manifest
    from orchestration.instance import dagster_instance

    settings = CifSettings.load(landing=landing, warehouse=warehouse, exports=exports)
    prepare_manifest()
    dagster_instance(settings)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "CIF_LANDING": str(settings.landing),
        "CIF_WAREHOUSE": str(settings.warehouse),
        "CIF_EXPORTS": str(settings.exports),
        # dagster dev starts its code server with its own interpreter: keep this venv first.
        "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    dagster = Path(sys.prefix) / "bin" / "dagster"
    cmd = [
        str(dagster),
        "dev",
        "-m",
        "orchestration.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl+C to stop)")
    proc = subprocess.Popen(
        cmd, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    try:
        raise typer.Exit(proc.wait())
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        raise typer.Exit(proc.wait()) from None


customer_app = typer.Typer(
    help="Frontline lookup: find a customer, show everything known about them (as CIF_ROLE "
    "may see it; every lookup is written to the audit log).",
    no_args_is_help=True,
)
app.add_typer(customer_app, name="customer")


def _frontline(warehouse: Path | None):
    """The settings, and the frontline over their published warehouse."""
    from frontline.service import Frontline
    from ingest.privacy import pii_columns, pseudonym_key
    from orchestration.dbt_project import MANIFEST, prepare_manifest

    settings = _settings_or_exit(warehouse=warehouse)
    if not settings.warehouse.exists():
        err.print(f"[red]No warehouse at {settings.warehouse}.[/red] Run `cif run` first.")
        raise typer.Exit(2)
    if not MANIFEST.exists():
        prepare_manifest()
    kinds = pii_columns(MANIFEST).get("customer_360", {})
    service = Frontline(
        settings.warehouse, kinds, pseudonym_key(settings.warehouse), settings.audit_log
    )
    return settings, service


def _user() -> str:
    import getpass

    return os.environ.get("CIF_USER") or getpass.getuser()


@customer_app.command("find")
def customer_find(
    text: Annotated[
        str,
        typer.Argument(
            help="Name (typos allowed), e-mail, phone, national id, "
            "a source system's customer number, or a customer key"
        ),
    ],
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """Find customers by what a caller says; best match first."""
    from frontline.text import render_found

    settings, service = _frontline(warehouse)
    found = service.find(text, settings.role, _user(), "cli", limit=limit)
    console.print(render_found(found), markup=False, highlight=False)
    if not found:
        raise typer.Exit(1)


@customer_app.command("show")
def customer_show(
    key: Annotated[int, typer.Argument(help="Customer key (an old key resolves after a merge)")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Show the customer as of this date")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Everything known about one customer: identifiers, household, accounts, activity,
    complaints, segments, value and risk, and the suggested next step."""
    from frontline.text import render_customer

    settings, service = _frontline(warehouse)
    view = service.show(key, settings.role, _user(), "cli", as_of=_parse_date(as_of, "--as-of"))
    if view is None:
        err.print(f"No customer with key {key}.")
        raise typer.Exit(1)
    console.print(render_customer(view), markup=False, highlight=False)


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8080,
    warehouse: WarehouseOpt = None,
) -> None:
    """The frontline web page on 127.0.0.1: search, customer and household pages, as of a date,
    for the role of CIF_ROLE (a proxy may lower it per request with X-CIF-Role and name the
    user with X-CIF-User); every lookup is audited."""
    import uvicorn

    from frontline.web import create_app

    settings, service = _frontline(warehouse)
    console.print(f"Frontline on http://127.0.0.1:{port} for role {settings.role} (Ctrl+C to stop)")
    uvicorn.run(
        create_app(service, settings.role), host="127.0.0.1", port=port, log_level="warning"
    )


@app.command()
def docs(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8081,
    warehouse: WarehouseOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the page (default: docs/ beside the warehouse)"),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the page, or only write it")
    ] = True,
) -> None:
    """Build dbt's docs (lineage, descriptions, columns, the exposures and their owners) as one
    static page from a copy of the published warehouse, and serve it on 127.0.0.1."""
    import functools
    import http.server

    from orchestration.dbt_project import generate_docs

    settings = _settings_or_exit(warehouse=warehouse)
    if not settings.warehouse.exists():
        err.print(f"[red]No warehouse at {settings.warehouse}.[/red] Run `cif run` first.")
        raise typer.Exit(2)
    page = generate_docs(settings.warehouse, out or settings.warehouse.parent / "docs")
    console.print(f"dbt docs written to {page}")
    if not serve:
        return
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        console.print(f"dbt docs on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    app()
