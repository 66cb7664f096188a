"""Exports for BI tools: every mart as Parquet (or CSV) plus manifest.json, published atomically.

Layout: `<out>/<as_of>/` and `<out>/latest/` are symlinks to a complete, immutable version
folder `<out>/.versions/<as_of>--<run_id>/`; they are switched with one rename, so a reader
never sees half an export. In it each mart is `<table>.parquet`, or a folder of monthly files
for the large and history tables; a file whose content did not change since the newest version
is a hard link to that version's file (ingest/export_files.py), so a night writes what changed.
Columns declared personal (`meta.pii` in the dbt yml) are written as the export's role may see
them (ingest/privacy.py): by default an analyst's view, pseudonymised or generalised, with no
personal value in clear.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingest.export_files import Previous, TableFiles, TableSpec, write_table
from ingest.privacy import HIDDEN, Hasher, masked_sql, treatment
from ingest.sql import quote_ident, quote_literal

MARTS_SCHEMA = "marts"
KEEP_VERSIONS = 3  # exports of one as-of date kept, the linked one among them
DAY_SECONDS = 86_400


@dataclass
class ExportResult:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    excluded_pii: dict[str, list[str]] = field(default_factory=dict)  # hidden from the role
    role: str = "analyst"
    removed: list[str] = field(default_factory=list)  # as-of dates whose export was removed
    files_written: int = 0  # files this export wrote
    files_shared: int = 0  # unchanged files hard-linked from the previous version


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [MARTS_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [MARTS_SCHEMA, table],
    ).fetchall()


FORMULA_START = r"^[=+\-@\t\r]"
FORMAT_OPTIONS = {"parquet": "format parquet, compression zstd", "csv": "format csv, header"}


def _csv_safe(column: str) -> str:
    """A text column for CSV: a value a spreadsheet would run as a formula (starting with
    = + - @, tab or carriage return) gets a leading apostrophe (OWASP's CSV-injection advice).
    Parquet keeps values as they are: BI tools read it typed."""
    ident = quote_ident(column)
    return (
        f"case when regexp_matches({ident}, {quote_literal(FORMULA_START)}) "
        f"then chr(39) || {ident} else {ident} end as {ident}"
    )


def _switch_link(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a symlink renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a real folder left by an older layout
    os.replace(tmp, link)


def _export_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    folder: Path,
    previous: Previous,
    kinds: dict[str, str],
    role: str,
    hasher: Hasher | None,
    file_format: str,
) -> TableFiles:
    """Write one mart as `role` may see it, only its files that changed since `previous`."""
    columns = _columns(con, table)
    masked = ", ".join(
        part
        for c, _ in columns
        if (part := masked_sql(quote_ident(c), c, kinds.get(c), role, hasher))
    )
    masked_select = f"select {masked} from {MARTS_SCHEMA}.{quote_ident(table)}"
    kept = [(c, t) for c, t, *_ in con.execute(f"describe {masked_select}").fetchall()]
    spec = TableSpec(
        table=table,
        masked=masked_select,
        written=", ".join(
            _csv_safe(c) if file_format == "csv" and t == "VARCHAR" else quote_ident(c)
            for c, t in kept
        ),
        columns=kept,
        file_format=file_format,
        options=FORMAT_OPTIONS[file_format],
        # a new pseudonym key changes every pseudonym: its tag (an HMAC, not the key) says so
        shown_as=f"{role}:{hasher.value('export fingerprint') if hasher else ''}",
    )
    files = write_table(con, spec, folder, previous)
    personal = {c: kind for c, _ in columns if (kind := kinds.get(c))}
    files.entry |= {
        "personal_data": [
            {"column": c, "kind": kind, "shown_as": treatment(kind, role)}
            for c, kind in personal.items()
        ],
        "pii_columns_excluded": sorted(
            c for c, kind in personal.items() if treatment(kind, role) == HIDDEN
        ),
    }
    return files


def export_marts(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    as_of: dt.date,
    run_id: str,
    pii: dict[str, dict[str, str]],
    role: str = "analyst",
    key: bytes | None = None,
    file_format: str = "parquet",
    checks: Iterable[dict[str, Any]] = (),
    version: str | None = None,
    keep_days: int = 0,
) -> ExportResult:
    """Write every mart as `role` may see it (pseudonyms under `key`) and manifest.json, then
    switch `<as_of>` and `latest` to them; the files unchanged since the newest version are
    hard links to its files. `run_id` is the run that built the data (the manifest's);
    `version` names this export's folder when it is not that run's own export.
    Which role an export may carry is decided by the caller (ingest.privacy.export_role).
    With `keep_days`, the exports written longer ago than that are removed (see `_prune`)."""
    if file_format not in FORMAT_OPTIONS:
        raise ValueError(f"unknown export format {file_format!r} (parquet or csv)")
    versions = out / ".versions"
    folder = versions / f"{as_of.isoformat()}--{version or run_id}"
    previous = _previous(versions, role, file_format)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    hasher = Hasher(key) if key else None
    written = [
        _export_table(con, table, partial, previous, pii.get(table, {}), role, hasher, file_format)
        for table in mart_tables(con)
    ]
    tables = [t.entry for t in written]
    manifest = {
        "as_of": as_of.isoformat(),
        "run_id": run_id,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": file_format,
        "role": role,
        "include_pii": role != "analyst",
        "tables": tables,
        "checks": list(checks),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    _switch_link(out / as_of.isoformat(), folder)
    _switch_link(out / "latest", _newest_version(versions) or folder)
    removed = _prune(versions, out, keep_days, written=folder)
    return ExportResult(
        folder=out / as_of.isoformat(),
        tables={t["table"]: t["rows"] for t in tables},
        excluded_pii={
            t["table"]: t["pii_columns_excluded"] for t in tables if t["pii_columns_excluded"]
        },
        role=role,
        removed=removed,
        files_written=sum(t.written for t in written),
        files_shared=sum(t.shared for t in written),
    )


def _previous(versions: Path, role: str, file_format: str) -> Previous:
    """The newest version written for this role and format: the one whose files may be shared
    (an admin's export beside the nightly analyst's ones would share none of its files)."""
    complete = _complete(versions) if versions.is_dir() else []
    for folder in sorted(complete, key=_recency, reverse=True):
        if (previous := Previous.read(folder, role, file_format)).files:
            return previous
    return Previous()


def _complete(versions: Path) -> list[Path]:
    return [p for p in versions.iterdir() if p.is_dir() and not p.name.endswith(".partial")]


def _recency(folder: Path) -> tuple[str, int]:
    return _as_of_of(folder), _written_at(folder)


def _newest_version(versions: Path) -> Path | None:
    """The version folder of the latest as-of date (newest write wins between equal dates)."""
    return max(_complete(versions), key=_recency, default=None)


def _prune(versions: Path, out: Path, keep_days: int, written: Path) -> list[str]:
    """Keep the newest few versions per as-of date, and with `keep_days` only the as-of dates
    whose export was written in the last `keep_days` days (orchestration/settings.py says why).
    The export just written and the one `latest` points to are always kept; a folder left by a
    killed export goes with its age. Returns the as-of dates whose export was removed."""
    cutoff = time.time_ns() - keep_days * DAY_SECONDS * 10**9 if keep_days else None
    links = {p.name: p.resolve() for p in out.iterdir() if p.is_symlink()}
    protected = {written.resolve(), links.get("latest")}
    removed = sorted(
        name
        for name, folder in links.items()
        if cutoff and folder not in protected and _written_at(folder) < cutoff
    )
    for name in removed:
        (out / name).unlink()
    linked = {folder for name, folder in links.items() if name not in removed}
    by_date: dict[str, list[Path]] = {}
    for p in versions.iterdir():
        if p.is_dir():
            by_date.setdefault(_as_of_of(p), []).append(p)
    for folders in by_date.values():
        folders.sort(key=_written_at, reverse=True)
        complete = [p for p in folders if not p.name.endswith(".partial")]
        for stale in folders:
            if stale.resolve() in linked:
                continue
            old = cutoff is not None and _written_at(stale) < cutoff
            if old or stale in complete[KEEP_VERSIONS:]:
                shutil.rmtree(stale, ignore_errors=True)
    return removed


def _as_of_of(folder: Path) -> str:
    """The as-of date a version folder (`<as_of>--<version>`) holds."""
    return folder.name.split("--")[0]


def _written_at(folder: Path) -> int:
    """When an export folder was last written, in nanoseconds (0 when it is gone)."""
    try:
        return folder.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
