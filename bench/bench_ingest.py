"""Ingest throughput: the raw load vs DuckDB's own read_csv/read_parquet of the same file.

    .venv/bin/python bench/bench_ingest.py --rows 10000000

Writes a canonical-layout transactions file (CSV and Parquet) of N rows with 0.1% bad rows,
then times (a) a plain `create table as select * from read_csv(...)` and (b) `load_landing`
into a fresh warehouse, and prints rows per second and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from ingest.loader import load_landing

GEN_SQL = """
copy (
    select
        't' || i as transaction_id,
        'c' || (i % 1000000) as source_customer_id,
        case when i % 1000 = 7 then 'not-a-date'
             else strftime(date '2023-01-01' + cast(i % 730 as integer), '%Y-%m-%d') end as occurred_at,
        cast(round(((i * 7919) % 100000) / 100.0 - 50, 2) as varchar) as amount,
        'EUR' as currency,
        case i % 3 when 0 then 'web' when 1 then 'app' else 'branch' end as channel,
        'p' || (i % 17) as product
    from range(?) r(i)
) to '{path}' {options}
"""


def make_file(folder: Path, rows: int, fmt: str) -> Path:
    path = folder / "bench" / "transactions" / f"t.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    options = "(format csv, header)" if fmt == "csv" else "(format parquet)"
    duckdb.connect().execute(GEN_SQL.format(path=path, options=options), [rows])
    return path


def plain_read(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    reader = "read_csv" if path.suffix == ".csv" else "read_parquet"
    con.execute(f"create table t as select * from {reader}('{path}')")
    con.close()
    return time.perf_counter() - started


def raw_load(landing: Path, db: Path) -> tuple[float, int, int]:
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    (result,) = load_landing(con, landing, loaded_at=dt.datetime(2025, 1, 1))
    con.close()
    return time.perf_counter() - started, result.rows_loaded, result.rows_quarantined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    table = Table(title=f"Ingest of {args.rows:,} transaction rows (2 cores)")
    for col in (
        "format",
        "plain read s",
        "raw load s",
        "rows/s (raw load)",
        "ratio",
        "loaded",
        "quarantined",
    ):
        table.add_column(col, justify="right")
    for fmt in ("csv", "parquet"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = make_file(folder, args.rows, fmt)
            plain = plain_read(path, folder / "plain.duckdb")
            seconds, loaded, quarantined = raw_load(folder, folder / "loaded.duckdb")
            table.add_row(
                fmt,
                f"{plain:.1f}",
                f"{seconds:.1f}",
                f"{args.rows / seconds:,.0f}",
                f"{seconds / plain:.2f}x",
                f"{loaded:,}",
                f"{quarantined:,}",
            )
    Console().print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Console().print(f"peak memory (max RSS): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
