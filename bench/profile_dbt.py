"""Where the dbt layers spend their time: dbt's own timing per model, and DuckDB's EXPLAIN
ANALYZE of the slowest.

    .venv/bin/python bench/profile_dbt.py --warehouse DIR/wh/cif.duckdb --as-of 2025-07-01
        [--full-refresh] [--top 8] [--explain 3] [--warm-up 2025-06-30]

Works on a copy of the warehouse (the file is not changed): builds each dbt layer (models and
data tests, as the nightly run does) as of `--as-of` (with `--full-refresh`: as a cold run),
prints the slowest nodes from dbt's run_results.json, then the operators that dominate the
slowest ones' query plans (EXPLAIN ANALYZE re-runs their SELECT on the rebuilt copy).
`--warm-up` builds the layers as of an earlier date first, unmeasured: the night after a change
of the project, when a warehouse built before it has caught up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ingest.warehouse import connection, write_run_context
from orchestration.dbt_project import dbt_args, invoke, parsed_manifest, prepare_manifest

LAYERS = ("integrate", "core", "marts")


def build(warehouse: Path, as_of: dt.date, tag: str, target: Path, full: bool) -> None:
    """`dbt build` of one layer as the nightly run does it (models and data tests)."""
    with connection(warehouse) as con:
        write_run_context(con, as_of)
    args = ["build", "--select", f"tag:{tag}", "--exclude-resource-type", "unit_test"]
    args += ["--full-refresh"] if full else []
    variables = {"warehouse_path": str(warehouse)}
    invoke(dbt_args(args, target, variables), manifest=parsed_manifest(warehouse))


def model_timings(target: Path) -> list[tuple[str, float, str]]:
    """(node, seconds, compiled SQL) of every node in a dbt run's run_results.json."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return [
        (_short(r["unique_id"]), r["execution_time"], r.get("compiled_code") or "") for r in results
    ]


def _short(unique_id: str) -> str:
    """`model.<name>` or `test.<name>`, at most 60 characters."""
    kind, _, name = unique_id.split(".", 2)
    return f"{kind}.{name}"[:60]


UNITS = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}


def explain(warehouse: Path, sql: str, top: int = 5) -> list[tuple[str, float]]:
    """The costliest operators of one query, from DuckDB's EXPLAIN ANALYZE (each box of the
    plan names its operator on its top edge and ends with "<rows> rows <time>")."""
    with connection(warehouse) as con:
        plan = con.execute(f"explain analyze {sql}").fetchall()[0][1]
    operators, name = [], None
    for line in plan.splitlines():
        if started := re.match(r"\W*╭─ ([^─]+?) ─", line):
            name = started.group(1)
        elif name and (timed := re.search(r"rows\s+([\d.]+)(µs|ms|s)\s*│", line)):
            operators.append((name, float(timed.group(1)) * UNITS[timed.group(2)]))
            name = None
    return sorted(operators, key=lambda item: -item[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument(
        "--full-refresh", action="store_true", help="as a cold run (else incremental models add)"
    )
    parser.add_argument("--explain", type=int, default=3, help="EXPLAIN ANALYZE the N slowest")
    parser.add_argument("--warm-up", type=dt.date.fromisoformat, help="build as of it first")
    args = parser.parse_args()
    console = Console()
    prepare_manifest()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "cif.duckdb"
        shutil.copy(args.warehouse, copy)
        for layer in LAYERS if args.warm_up else ():
            build(copy, args.warm_up, layer, Path(tmp) / "warm-up", args.full_refresh)
        timings: list[tuple[str, str, float, str]] = []
        for layer in LAYERS:
            started = time.perf_counter()
            build(copy, args.as_of, layer, Path(tmp) / layer, args.full_refresh)
            wall = time.perf_counter() - started
            models = model_timings(Path(tmp) / layer)
            tests = sum(seconds for name, seconds, _ in models if name.startswith("test."))
            built = sum(seconds for name, seconds, _ in models if not name.startswith("test."))
            console.print(
                f"layer {layer}: {wall:.1f} s wall, {len(models)} nodes "
                f"(models {built:.1f} s, data tests {tests:.1f} s, summed over 2 threads)"
            )
            timings += [(layer, name, seconds, sql) for name, seconds, sql in models]
        timings.sort(key=lambda item: -item[2])
        table = Table(title=f"Slowest dbt nodes, as of {args.as_of}")
        for col in ("layer", "node", "seconds"):
            table.add_column(col, justify="right" if col == "seconds" else "left")
        for layer, name, seconds, _ in timings[: args.top]:
            table.add_row(layer, name, f"{seconds:.2f}")
        console.print(table)
        for _, name, seconds, sql in timings[: args.explain]:
            if not sql.strip():
                continue
            operators = explain(copy, sql)
            shown = ", ".join(f"{op} {s:.2f} s" for op, s in operators)
            console.print(f"{name} ({seconds:.1f} s): {shown}")


if __name__ == "__main__":
    main()
