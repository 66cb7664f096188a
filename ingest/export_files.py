"""One mart's files in an export version: a content fingerprint per file, monthly partitions, and
hard links to the previous version's files whose fingerprint did not change.

A table named in PARTITIONED is a folder `<table>/month=YYYY-MM/part-0.<ext>` (Hive layout: rows
whose date is NULL go to `month=__HIVE_DEFAULT_PARTITION__`, which readers read back as NULL);
any other table is one file `<table>.<ext>`. Each file's fingerprint is computed in SQL on the
rows the export would write (row count and two order-independent sums of row hashes) together
with what else shapes the file (columns and types, role, format, pseudonym key), so an unchanged
file is recognised without writing it, and then shared with the previous version, never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingest.decoding import file_digest
from ingest.sql import quote_ident, quote_literal

PARTITION_KEY = "month"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # what DuckDB, Spark and Hive read back as NULL
# The tables written as one file per month of a date column: the first column listed that the
# table has as a date or timestamp (segment history's spells start at valid_from; its nightly
# rows before spells had as_of_date). A table with none of them is written as one file.
# The segment history's spells by the month they ended: a night closes spells and opens new
# ones, so it rewrites only the month it closed them in and the open spells (NULL).
PARTITIONED: dict[str, tuple[str, ...]] = {
    "customer_segment_history": ("valid_to",),
    "kpi_daily": ("kpi_date",),
    "key_account_performance": ("period_start",),
}
DATE_TYPES = ("DATE", "TIMESTAMP")  # prefixes: TIMESTAMP WITH TIME ZONE, TIMESTAMP_NS, ...


class ExportLayoutError(RuntimeError):
    """The engine wrote a partition as other than the one file the manifest names."""


@dataclass(frozen=True)
class TableSpec:
    """What one mart's files hold: the masked select the export writes and how it writes it."""

    table: str
    masked: str  # `select <columns as the role may see them> from marts.<table>`
    written: str  # the select list written from it (in CSV, text a spreadsheet cannot run)
    columns: list[tuple[str, str]]  # (name, type) of the masked select
    file_format: str
    options: str  # the COPY options, inside their parentheses
    shown_as: str  # what else changes the values: the role and the pseudonym key's tag

    @property
    def partition_column(self) -> str | None:
        types = dict(self.columns)
        if PARTITION_KEY in types:  # the folders' key would shadow the table's own column
            return None
        declared = PARTITIONED.get(self.table, ())
        return next((c for c in declared if types.get(c, "").startswith(DATE_TYPES)), None)

    def file_name(self, part: str | None) -> str:
        if part is None:
            return f"{self.table}.{self.file_format}"
        return f"{self.table}/{PARTITION_KEY}={part}/part-0.{self.file_format}"


@dataclass(frozen=True)
class Previous:
    """The version an export may share files with, and its manifest's files by name."""

    folder: Path | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path, role: str, file_format: str) -> Previous:
        """A version folder's files if it was written for the same role and format (none from
        a manifest that has no fingerprints: one written before them)."""
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return cls()
        if (manifest.get("role"), manifest.get("format")) != (role, file_format):
            return cls()
        tables = manifest.get("tables", [])
        return cls(folder, {f["file"]: f for t in tables for f in t.get("files", [])})

    def unchanged(self, name: str, fingerprint: str) -> bool:
        """Whether the previous version holds this file with this content, still whole."""
        entry = self.files.get(name)
        if self.folder is None or not entry or entry.get("fingerprint") != fingerprint:
            return False
        try:
            return (self.folder / name).stat().st_size == entry["bytes"]
        except OSError:
            return False

    def share(self, name: str, target: Path) -> dict[str, Any]:
        """Hard-link the previous version's file at `target`; returns its manifest entry."""
        assert self.folder is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.folder / name, target)
        except OSError:  # another file system, or none with hard links: a copy still reads no table
            shutil.copyfile(self.folder / name, target)
        return self.files[name]


@dataclass
class TableFiles:
    """One mart's manifest entry (without its personal-data lines) and how its files came."""

    entry: dict[str, Any]
    written: int
    shared: int


def write_table(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, folder: Path, previous: Previous
) -> TableFiles:
    """Write the mart's files that changed since `previous` into `folder`, link the others."""
    column = spec.partition_column
    prints = fingerprints(con, spec, column)
    shared = {p for p, (_, fp) in prints.items() if previous.unchanged(spec.file_name(p), fp)}
    changed = sorted(p for p in prints if p not in shared)
    if column is None and changed:
        _copy(con, spec, folder / spec.file_name(None))
    elif changed:
        _write_partitions(con, spec, column, changed, folder)
    files = []
    for part, (rows, fingerprint) in sorted(prints.items(), key=lambda p: p[0] or ""):
        name = spec.file_name(part)
        if part in shared:
            files.append(previous.share(name, folder / name))
            continue
        sha256, size = file_digest(folder / name)
        files.append(
            {"file": name, "partition": part, "rows": rows, "bytes": size, "sha256": sha256}
            | {"fingerprint": fingerprint}
        )
    return TableFiles(_entry(spec, column, files), len(changed), len(shared))


def fingerprints(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, column: str | None
) -> dict[str | None, tuple[int, str]]:
    """Rows and content fingerprint of each file of the table (by month, or None for one file).
    A sum and a xor of 64-bit row hashes: order-independent, and a duplicated row still counts."""
    row = ", ".join(quote_ident(c) for c, _ in spec.columns)
    aggregates = f"count(*), sum(hash({row})::hugeint), bit_xor(hash({row}))"
    if column is None:
        found = con.execute(f"select null, {aggregates} from ({spec.masked})").fetchall()
    else:
        part = _partition_sql(column)
        found = con.execute(
            f"select {part} as part, {aggregates} from ({spec.masked}) group by part"
        ).fetchall()
    # a partitioned table with no rows still gets one (empty) file: its columns stay readable
    found = found or [(NULL_PARTITION, 0, None, None)]
    shape = [spec.columns, spec.file_format, spec.options, spec.shown_as, column]
    return {
        part: (int(rows), _digest([*shape, part, rows, str(total), str(xor)]))
        for part, rows, total, xor in found
    }


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _partition_sql(column: str) -> str:
    return f"coalesce(strftime({quote_ident(column)}, '%Y-%m'), {quote_literal(NULL_PARTITION)})"


def _copy(con: duckdb.DuckDBPyConnection, spec: TableSpec, target: Path, tail: str = "") -> None:
    """Write the table's rows (`tail`: a clause after its select) to one file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    select = f"select {spec.written} from ({spec.masked}) {tail}"
    con.execute(f"copy ({select}) to {quote_literal(str(target))} ({spec.options})")


def _write_partitions(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    column: str,
    parts: list[str],
    folder: Path,
) -> None:
    """Write the changed months in one pass (the engine's partitioned write: one file each)."""
    wanted = ", ".join(quote_literal(p) for p in parts)
    staging = folder / f".{spec.table}.new"  # beside the table's folder, to move the files in
    # the month itself, not _partition_sql's name for NULL: the engine names NULL's folder
    month = f"strftime({quote_ident(column)}, '%Y-%m') as {PARTITION_KEY}"
    select = f"select {spec.written}, {month} from ({spec.masked})"
    con.execute(
        f"copy ({select} where {_partition_sql(column)} in ({wanted})) "
        f"to {quote_literal(str(staging))} "
        f"({spec.options}, partition_by ({PARTITION_KEY}), filename_pattern 'part-{{i}}')"
    )
    for p in parts:
        target = folder / spec.file_name(p)
        written = sorted((staging / target.parent.name).glob("*")) if staging.exists() else []
        if not written:  # no rows: the table is empty (see fingerprints)
            _copy(con, spec, target, "limit 0")
            continue
        if len(written) > 1:
            raise ExportLayoutError(f"{spec.table}: {len(written)} files for {PARTITION_KEY} {p}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written[0], target)
    shutil.rmtree(staging, ignore_errors=True)


def _entry(spec: TableSpec, column: str | None, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The table's manifest entry: where a reader opens it, its totals and each of its files."""
    entry: dict[str, Any] = {
        "table": spec.table,
        "path": spec.table if column else spec.file_name(None),
        "partitioned_by": {"column": column, "key": PARTITION_KEY} if column else None,
        "rows": sum(f["rows"] for f in files),
        "bytes": sum(f["bytes"] for f in files),
        "columns": [{"name": c, "type": t} for c, t in spec.columns],
        "files": files,
    }
    if column is None:  # one file: its checksum beside the table's, as readers found it before
        entry |= {"file": files[0]["file"], "sha256": files[0]["sha256"]}
    return entry
