"""The great-expectations suites of a nightly run on a built warehouse: seconds per suite.

    .venv/bin/python bench/bench_checks.py --warehouse DIR/wh/cif.duckdb

Each suite runs as the run's asset checks run it (`quality.gx_bridge.validate_table`: only the
columns its expectations name), then, for comparison, on the whole table read into pandas (how
the checks read before issue 15's work). Both must pass alike. GX's context is made before the
table so that neither side pays for it; the warehouse is opened read-only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from ingest.sql import quote_ident
from quality import gx_bridge
from quality.suites import SUITES


def measure(con: duckdb.DuckDBPyConnection, suite) -> tuple[list[str], float, float]:
    """One suite's table row: its checks as the run reads them, then on the whole table."""
    expectations = suite.expectations()
    relation = f"{quote_ident(suite.schema)}.{quote_ident(suite.table)}"
    started = time.perf_counter()
    named = gx_bridge.validate_table(con, suite.schema, suite.table, suite.name, expectations)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    whole_table = con.execute(f"select * from {relation}").df()
    whole = gx_bridge.validate_frame(whole_table, relation, suite.name, expectations)
    whole_seconds = time.perf_counter() - started
    assert named.success == whole.success and named.rows == whole.rows, suite.name
    columns = gx_bridge.columns_read(expectations)
    row = [
        suite.name,
        f"{named.rows:,}",
        str(len(columns)) if columns else "all",
        f"{seconds:.1f}",
        f"{whole_seconds:.1f}",
        "yes" if named.success else "no",
    ]
    return row, seconds, whole_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()
    gx_bridge._batch_definition()
    table = Table(title=f"GX suites on {args.warehouse}")
    for column in ("suite", "rows", "columns read", "seconds", "whole table s", "passed"):
        table.add_column(column, justify="left" if column == "suite" else "right")
    total = total_whole = 0.0
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        for suite in SUITES:
            row, seconds, whole_seconds = measure(con, suite)
            table.add_row(*row)
            total, total_whole = total + seconds, total_whole + whole_seconds
    table.add_row("total", "", "", f"{total:.1f}", f"{total_whole:.1f}", "")
    Console(width=110).print(table)


if __name__ == "__main__":
    main()
