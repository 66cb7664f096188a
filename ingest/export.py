"""Exports for BI tools: every mart as Parquet (or CSV) plus manifest.json, published atomically.

Layout: `<out>/<as_of>/` and `<out>/latest/` are symlinks to a complete, immutable version
folder `<out>/.versions/<as_of>--<run_id>/`; they are switched with one rename, so a reader
never sees half an export. Columns declared personal (`meta.pii` in the dbt yml) are left out
unless PII is asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingest.sql import quote_ident, quote_literal

MARTS_SCHEMA = "marts"
KEEP_VERSIONS = 3


@dataclass
class ExportResult:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    excluded_pii: dict[str, list[str]] = field(default_factory=dict)


def pii_columns(manifest_path: Path) -> dict[str, set[str]]:
    """Personal columns per model name, from the dbt manifest (`meta.pii: true`)."""
    manifest = json.loads(manifest_path.read_text())
    result: dict[str, set[str]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        cols = {
            name
            for name, col in (node.get("columns") or {}).items()
            if (col.get("meta") or {}).get("pii")
            or (col.get("config", {}).get("meta") or {}).get("pii")
        }
        if cols:
            result[node["name"]] = cols
    return result


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
    excluded_pii: set[str],
    file_format: str,
) -> dict[str, Any]:
    """Write one mart without the excluded columns; returns its manifest entry."""
    columns = _columns(con, table)
    excluded = sorted(excluded_pii & {c for c, _ in columns})
    kept = [(c, t) for c, t in columns if c not in excluded]
    target = folder / f"{table}.{file_format}"
    select = ", ".join(
        _csv_safe(c) if file_format == "csv" and t == "VARCHAR" else quote_ident(c) for c, t in kept
    )
    options = (
        "(format parquet, compression zstd)" if file_format == "parquet" else "(format csv, header)"
    )
    source = f"{MARTS_SCHEMA}.{quote_ident(table)}"
    con.execute(f"copy (select {select} from {source}) to {quote_literal(str(target))} {options}")
    row = con.execute(f"select count(*) from {source}").fetchone()
    return {
        "table": table,
        "file": target.name,
        "rows": int(row[0]) if row else 0,
        "columns": [{"name": c, "type": t} for c, t in kept],
        "pii_columns_excluded": excluded,
    }


def export_marts(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    as_of: dt.date,
    run_id: str,
    pii: dict[str, set[str]],
    include_pii: bool = False,
    file_format: str = "parquet",
    checks: Iterable[dict[str, Any]] = (),
) -> ExportResult:
    """Write every mart and manifest.json, then switch `<as_of>` and `latest` to them."""
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"unknown export format {file_format!r} (parquet or csv)")
    versions = out / ".versions"
    folder = versions / f"{as_of.isoformat()}--{run_id}"
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tables = [
        _export_table(
            con, table, partial, set() if include_pii else pii.get(table, set()), file_format
        )
        for table in mart_tables(con)
    ]
    manifest = {
        "as_of": as_of.isoformat(),
        "run_id": run_id,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": file_format,
        "include_pii": include_pii,
        "tables": tables,
        "checks": list(checks),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    _switch_link(out / as_of.isoformat(), folder)
    _switch_link(out / "latest", _newest_version(versions))
    _prune(versions, out)
    return ExportResult(
        folder=out / as_of.isoformat(),
        tables={t["table"]: t["rows"] for t in tables},
        excluded_pii={
            t["table"]: t["pii_columns_excluded"] for t in tables if t["pii_columns_excluded"]
        },
    )


def _newest_version(versions: Path) -> Path:
    """The version folder of the latest as-of date (newest write wins between equal dates)."""
    complete = [p for p in versions.iterdir() if p.is_dir() and not p.name.endswith(".partial")]
    return max(complete, key=lambda p: (p.name.split("--")[0], p.stat().st_mtime_ns))


def _prune(versions: Path, out: Path) -> None:
    """Keep the linked versions and the newest few per as-of date."""
    linked = {p.resolve() for p in out.iterdir() if p.is_symlink()}
    by_date: dict[str, list[Path]] = {}
    for p in versions.iterdir():
        if p.is_dir() and not p.name.endswith(".partial"):
            by_date.setdefault(p.name.split("--")[0], []).append(p)
    for folders in by_date.values():
        folders.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in folders[KEEP_VERSIONS:]:
            if stale.resolve() not in linked:
                shutil.rmtree(stale, ignore_errors=True)
