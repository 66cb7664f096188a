"""The same warehouse built on DuckDB and on Spark (a local session), step by step.

    .venv/bin/python bench/bench_engines.py --customers 10000 [--workdir DIR]

Generates `--customers` demo customers over two years, then builds the warehouse from the same
landing zone on each engine (orchestration/engines.py: ingest, dbt integration layer, identity,
dbt core, scoring, dbt marts), each in a process of its own, and prints the seconds of every
step, the peak memory (largest process: Python, or Spark's JVM) and the key figures of the
marts of each engine (they must agree).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from ingest.demo.generator import generate
from ingest.spark import spark_home, table_folder

END = dt.date(2025, 6, 30)
ENGINES = ("duckdb", "spark")
FIGURES = {
    "customers": "select count(*) from {customer_360}",
    "total net CLV 36m": "select round(sum(clv_net_36m), 2) from {customer_360}",
    "key accounts": "select count(*) from {key_accounts}",
    "segment rows": "select count(*) from {customer_segments}",
    "KPI revenue": "select sum(revenue) from {kpi_daily}",
}


def build_one(engine: str, landing: Path, warehouse: Path) -> None:
    """One engine's build in this process; prints its step seconds and peak memory as JSON."""
    from orchestration.engines import build_warehouse
    from orchestration.settings import CifSettings

    settings = CifSettings.load({}, landing=landing, warehouse=warehouse, as_of=END, engine=engine)
    seconds = build_warehouse(settings).seconds
    peaks = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2]
    peaks.append(_jvm_peak_gb())
    print(json.dumps({"seconds": seconds, "peak_gb": max(peaks)}))


def _jvm_peak_gb() -> float:
    """Peak resident memory of Spark's JVM (still running until this process ends), else 0."""
    try:
        from pyspark import SparkContext

        pid = SparkContext._gateway.proc.pid  # type: ignore[union-attr]
        status = Path(f"/proc/{pid}/status").read_text()
    except (ImportError, AttributeError, OSError):
        return 0.0
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024**2


def timed_build(engine: str, landing: Path, warehouse: Path) -> tuple[dict[str, float], float]:
    """Step seconds and the peak memory (GB, the larger of Python and Spark's JVM) of the build,
    run in a child process."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", engine, str(landing), str(warehouse)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{engine} build failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["seconds"], found["peak_gb"]


def figures(engine: str, warehouse: Path) -> dict[str, object]:
    """The key figures of one engine's marts (Spark's read from the Parquet files it wrote)."""
    con = duckdb.connect()
    if engine == "duckdb":
        con.execute(f"attach '{warehouse}' as built (read_only)")
        names = {m: f"built.marts.{m}" for m in ("customer_360", "key_accounts")}
        names |= {m: f"built.marts.{m}" for m in ("customer_segments", "kpi_daily")}
    else:
        home = spark_home(warehouse)
        tables = ("customer_360", "key_accounts", "customer_segments", "kpi_daily")
        names = {m: f"read_parquet('{table_folder(home, 'marts', m)}/*.parquet')" for m in tables}
    found = {name: con.execute(sql.format(**names)).fetchone()[0] for name, sql in FIGURES.items()}
    con.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cif-bench-engines-") as scratch:
        root = args.workdir or Path(scratch)
        landing = root / "landing"
        if not landing.exists():
            generate(
                landing, customers=args.customers, start=END.replace(year=END.year - 2), end=END
            )
        results = {}
        for engine in ENGINES:
            warehouse = root / engine / "cif.duckdb"
            seconds, peak = timed_build(engine, landing, warehouse)
            results[engine] = (seconds, peak, figures(engine, warehouse))
        report(args.customers, results)


def report(customers: int, results: dict) -> None:
    table = Table(title=f"The warehouse on each engine, {customers:,} demo customers")
    table.add_column("")
    for engine in ENGINES:
        table.add_column(engine, justify="right")
    steps = list(results[ENGINES[0]][0])
    for step in steps:
        table.add_row(f"{step} (s)", *(f"{results[e][0][step]:.1f}" for e in ENGINES))
    table.add_row("total (s)", *(f"{sum(results[e][0].values()):.1f}" for e in ENGINES))
    table.add_row("peak memory, largest process (GB)", *(f"{results[e][1]:.2f}" for e in ENGINES))
    for name in FIGURES:
        table.add_row(name, *(str(results[e][2][name]) for e in ENGINES))
    Console().print(table)
    agree = all(results["duckdb"][2][n] == results["spark"][2][n] for n in FIGURES)
    Console().print("Key figures agree." if agree else "[red]Key figures DIFFER.[/red]")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        build_one(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
