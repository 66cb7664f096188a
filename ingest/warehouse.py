"""Connections to the warehouse file, and what a full rebuild may drop."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection; creates the parent folder for a new file."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


@contextlib.contextmanager
def connection(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that is always closed (DuckDB checkpoints on close)."""
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


DERIVED_SCHEMAS = ("staging", "intermediate", "core", "marts", "frontline")


def drop_derived_relations(con: duckdb.DuckDBPyConnection, keep: Iterable[str] = ()) -> list[str]:
    """Drop every table and view dbt builds from raw (for a full rebuild); returns their names.

    Raw, meta, quarantine and scores are kept, and so are the `keep` tables ("schema.table",
    those Python steps write into the derived schemas, such as the identity map whose keys
    must survive): they are not derived from raw alone."""
    placeholders = ", ".join("?" for _ in DERIVED_SCHEMAS)
    rows = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_schema in ({placeholders})",
        list(DERIVED_SCHEMAS),
    ).fetchall()
    kept = set(keep)
    dropped = []
    for schema, name, kind in rows:
        if f"{schema}.{name}" in kept:
            continue
        what = "view" if kind == "VIEW" else "table"
        con.execute(f'drop {what} if exists "{schema}"."{name}" cascade')
        dropped.append(f"{schema}.{name}")
    return dropped


def table_row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per base table ("schema.table"), from DuckDB's statistics: no table is scanned."""
    rows = con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() where not internal"
    ).fetchall()
    return {f"{schema}.{table}": int(size) for schema, table, size in rows}


# The run's two clocks, read by the dbt models at run time (macros/as_of.sql) rather than
# compiled into them: the parsed dbt project is then the same for every run.
OPEN_KNOWLEDGE = dt.datetime(9999, 12, 31)


def write_run_context(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, as_known_at: dt.datetime | None = None
) -> None:
    """meta.run_context: one row with the business date and the knowledge time of the run."""
    con.execute("create schema if not exists meta")
    con.execute(
        "create or replace table meta.run_context (as_of date not null, "
        "as_known_at timestamp not null)"
    )
    con.execute(
        "insert into meta.run_context values (?, ?)", [as_of, as_known_at or OPEN_KNOWLEDGE]
    )
