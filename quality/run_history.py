"""What each published run leaves in the warehouse about itself: rows per table and its checks.

Written into the run's working copy just before it is published, so the history is published
with (and only with) the data it describes: a failed run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import duckdb

from ingest.warehouse import relation_exists, table_row_counts

ROW_COUNT_HISTORY = "meta.row_count_history"
PUBLICATIONS = "meta.publications"

_DDL = f"""
create schema if not exists meta;
create table if not exists {ROW_COUNT_HISTORY} (
    run_id varchar not null,
    as_of date not null,
    recorded_at timestamp not null,
    table_name varchar not null,
    row_count bigint not null
);
create table if not exists {PUBLICATIONS} (
    run_id varchar not null,
    as_of date not null,
    published_at timestamp not null,
    checks_passed bigint not null,
    checks_failed bigint not null,
    checks json not null
);
"""


def record_publication(
    con: duckdb.DuckDBPyConnection, run_id: str, as_of: dt.date, checks: Iterable[dict[str, Any]]
) -> None:
    """Add this run's rows per table and its checks to the history (idempotent per run)."""
    con.execute(_DDL)
    checks = list(checks)
    now = dt.datetime.now()
    con.execute(f"delete from {ROW_COUNT_HISTORY} where run_id = ?", [run_id])
    con.execute(f"delete from {PUBLICATIONS} where run_id = ?", [run_id])
    counts = {
        table: rows
        for table, rows in table_row_counts(con).items()
        if table not in (ROW_COUNT_HISTORY, PUBLICATIONS)
    }
    con.executemany(
        f"insert into {ROW_COUNT_HISTORY} values (?, ?, ?, ?, ?)",
        [[run_id, as_of, now, table, rows] for table, rows in sorted(counts.items())],
    )
    passed = sum(bool(c.get("passed")) for c in checks)
    con.execute(
        f"insert into {PUBLICATIONS} values (?, ?, ?, ?, ?, ?)",
        [run_id, as_of, now, passed, len(checks) - passed, json.dumps(checks, default=str)],
    )


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return relation_exists(con, *table.split("."))


def latest_publication(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The last published run: run_id, as_of, published_at and its checks (None before any)."""
    if not _exists(con, PUBLICATIONS):
        return None
    row = con.execute(
        f"select run_id, as_of, published_at, checks from {PUBLICATIONS} "
        "order by published_at desc limit 1"
    ).fetchone()
    if row is None:
        return None
    return {
        "run_id": row[0],
        "as_of": row[1],
        "published_at": row[2],
        "checks": json.loads(row[3]),
    }


def previous_row_counts(
    con: duckdb.DuckDBPyConnection, run_id: str, runs: int = 2
) -> list[tuple[str, str, dict[str, int]]]:
    """The row counts of the last `runs` published runs other than `run_id`, newest first:
    (run_id, as_of, {table: rows})."""
    if not _exists(con, ROW_COUNT_HISTORY):
        return []
    # runs published before this one (all of them when this one was not published)
    recent = con.execute(
        f"select run_id, any_value(as_of), max(recorded_at) as last_recorded "
        f"from {ROW_COUNT_HISTORY} where run_id <> $run group by run_id "
        f"having last_recorded < coalesce((select min(recorded_at) from {ROW_COUNT_HISTORY} "
        "where run_id = $run), timestamp '9999-12-31') order by last_recorded desc limit $runs",
        {"run": run_id, "runs": runs},
    ).fetchall()
    history = []
    for previous, as_of, _ in recent:
        rows = con.execute(
            f"select table_name, row_count from {ROW_COUNT_HISTORY} where run_id = ?", [previous]
        ).fetchall()
        history.append((previous, str(as_of), dict(rows)))
    return history
