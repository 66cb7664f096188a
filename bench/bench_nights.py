"""Nights in a row: a cold night, then K nights that each land a realistic day of every source.

    .venv/bin/python bench/bench_nights.py --customers N --nights K [--work DIR] [--keep]
        [--seed S] [--as-of YYYY-MM-DD]

The demo generator writes `--customers` over the two years before the as-of (default
2025-06-30) and the K days after it; bench/night_slices.py keeps the rows up to the as-of in the
landing zone and cuts the rest into one landing per night: every source's rows of that day in
its own layout (new customers, changed records, transactions, interactions, complaints), plus
corrections of earlier transactions, moved customers and, every 7th night, a day held back that
lands 3 nights late. Each night is a `cif run --as-of <day>` of its own process, as a scheduler
would start it. Per night: the run's seconds and its 3 slowest stages (the run summary), the
warehouse folder and its .duckdb file, the exports folder (a hard-linked file counted once), the
files and rows landed and quarantined, and the rows of each history table; then the growth per
night (least-squares slope over nights 2..K) of each figure. Writes the figures to
bench/results/nights-<N>x<K>-<date>.json; the work folder is removed unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.night_slices import EXTRA_SUFFIXES, land_night, slice_landing
from ingest.demo.generator import generate

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2025, 6, 30)
HISTORY_TABLES = (
    "marts.customer_segment_history",
    "intermediate.int_customer_segment_stays",
    "scores.customer_scores",
    "scores.model_runs",
    "meta.row_count_history",
    "meta.load_batches",
    "quarantine.rejected_rows",
    "core.dim_customer",
    "marts.kpi_daily",
)
STAGE_ROW = re.compile(r"^│\s*(\S+)\s*│\s*([\d.]+)\s*│\s*ok\s*│")
SUMMARY_LINE = re.compile(r"Run (\S+) succeeded in ([\d.]+) s")
MB = 1e6


def folder_bytes(folder: Path) -> int:
    """Apparent bytes of the files under `folder`, a file with several hard links once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(top, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def slowest_stages(stdout: str, count: int = 3) -> list[tuple[str, float]]:
    """The run summary's slowest stages ('Time per stage')."""
    stages = [(m[1], float(m[2])) for m in map(STAGE_ROW.match, stdout.splitlines()) if m]
    return sorted(stages, key=lambda s: -s[1])[:count]


def run_night(root: Path, day: dt.date) -> dict:
    """`cif run --as-of day` in a process of its own; its seconds and slowest stages."""
    cif = Path(sys.executable).parent / "cif"
    command = [str(cif), "run", "--as-of", day.isoformat()]
    command += ["--landing", str(root / "landing"), "--warehouse", str(root / "wh" / "cif.duckdb")]
    command += ["--exports", str(root / "exports")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=root)
    wall = time.perf_counter() - started
    summary = SUMMARY_LINE.search(done.stdout)
    if done.returncode or not summary:
        (root / f"failed-{day}.log").write_text(done.stdout + done.stderr)
        raise SystemExit(
            f"the night of {day} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return {
        "seconds": float(summary[2]),
        "wall_seconds": round(wall, 1),
        "slowest": slowest_stages(done.stdout),
    }


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    schema, name = table.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return int(con.execute(f"select count(*) from {table}").fetchone()[0]) if exists else None


def loads_since(con: duckdb.DuckDBPyConnection, batch_id: int) -> dict:
    """Files and rows of the batches after `batch_id`; rows quarantined from the hand-made
    files (corrections, moves, changes) are the benchmark's mistake, the others the
    generator's malformed rows."""
    rows = con.execute(
        "select file_path, status, rows_received, rows_quarantined, values_quarantined"
        " from meta.load_batches where batch_id > ?",
        [batch_id],
    ).fetchall()
    extra = [r for r in rows if Path(r[0]).stem.endswith(EXTRA_SUFFIXES)]
    return {
        "loaded_files": sorted(r[0] for r in rows if r[1] == "loaded"),
        "rows_received": sum(r[2] for r in rows),
        "rows_quarantined": sum(r[3] for r in rows),
        "values_quarantined": sum(r[4] or 0 for r in rows),
        "quarantined_from_hand_made": sum(r[3] + (r[4] or 0) for r in extra),
    }


def measure(root: Path, night: int, day: dt.date, landed: list[Path], last_batch: int) -> dict:
    figures = {"night": night, "as_of": day.isoformat(), "files_landed": len(landed)}
    figures.update(run_night(root, day))
    warehouse = root / "wh" / "cif.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loads = loads_since(con, last_batch)
        figures["history_rows"] = {t: count_rows(con, t) for t in HISTORY_TABLES}
        figures["last_batch"] = con.execute(
            "select coalesce(max(batch_id), 0) from meta.load_batches"
        ).fetchone()[0]
    not_loaded = sorted({str(p) for p in landed} - set(loads.pop("loaded_files")))
    figures.update(loads, files_not_loaded=not_loaded)
    figures["warehouse_bytes"] = folder_bytes(warehouse.parent)
    figures["duckdb_bytes"] = warehouse.stat().st_size
    figures["exports_bytes"] = folder_bytes(root / "exports")
    return figures


def run_nights(root: Path, customers: int, nights: int, as_of: dt.date, seed: int) -> list[dict]:
    landing = root / "landing"
    generate(
        landing,
        customers=customers,
        start=as_of - dt.timedelta(days=730),
        end=as_of + dt.timedelta(days=nights),
        seed=seed,
    )
    slice_landing(landing, root / "nights", as_of, nights, customers, seed)
    cold = sorted(p for p in landing.glob("*/*/*") if not p.parts[-3].startswith("_"))
    results = [measure(root, 0, as_of, cold, 0)]
    print_night(results[-1])
    for night in range(1, nights + 1):
        landed = land_night(root / "nights", landing, night)
        day = as_of + dt.timedelta(days=night)
        results.append(measure(root, night, day, landed, results[-1]["last_batch"]))
        print_night(results[-1])
    return results


def print_night(f: dict) -> None:
    slow = ", ".join(f"{name} {s:.1f}" for name, s in f["slowest"])
    print(
        f"night {f['night']} ({f['as_of']}): {f['seconds']:.1f} s; {f['files_landed']} files"
        f" ({len(f['files_not_loaded'])} not loaded),"
        f" {f['rows_received']:,} rows, {f['rows_quarantined']} quarantined"
        f" ({f['quarantined_from_hand_made']} of the hand-made files); {slow}",
        flush=True,
    )


def figures_of(f: dict) -> dict[str, float | None]:
    """The figures whose growth per night is reported."""
    out = {k: f[k] for k in ("seconds", "wall_seconds", "warehouse_bytes", "duckdb_bytes")}
    out |= {k: f[k] for k in ("exports_bytes", "rows_received", "rows_quarantined")}
    return out | f["history_rows"]


def slopes(results: list[dict]) -> dict[str, float | None]:
    """Least-squares growth per night over nights 2..K (night 1 still warms up after the cold)."""
    later = [r for r in results if r["night"] >= 2]
    out: dict[str, float | None] = {}
    for name in figures_of(results[0]):
        points = [(r["night"], figures_of(r)[name]) for r in later]
        points = [(x, y) for x, y in points if y is not None]
        out[name] = float(np.polyfit(*zip(*points, strict=True), 1)[0]) if len(points) > 1 else None
    return out


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(results: list[dict], growth: dict[str, float | None], ratio: float | None) -> str:
    runs = [
        [
            str(r["night"]),
            r["as_of"],
            str(r["files_landed"]),
            f"{r['rows_received']:,}",
            f"{r['rows_quarantined']} ({r['quarantined_from_hand_made']})",
            f"{r['seconds']:.1f}",
            f"{r['wall_seconds']:.1f}",
            ", ".join(f"{n} {s:.1f}" for n, s in r["slowest"]),
            f"{r['warehouse_bytes'] / MB:.1f}",
            f"{r['duckdb_bytes'] / MB:.1f}",
            f"{r['exports_bytes'] / MB:.1f}",
        ]
        for r in results
    ]
    head = [
        "night",
        "as-of",
        "files",
        "rows in",
        "quarantined (hand-made)",
        "run s",
        "wall s",
        "slowest stages (s)",
        "warehouse MB",
        ".duckdb MB",
        "exports MB",
    ]
    history = [
        [str(r["night"])] + [f"{v:,}" if v is not None else "-" for v in r["history_rows"].values()]
        for r in results
    ]
    scale = {k: MB for k in ("warehouse_bytes", "duckdb_bytes", "exports_bytes")}
    grow = [
        [name.replace("_bytes", " MB"), "-" if s is None else f"{s / scale.get(name, 1):+,.2f}"]
        for name, s in growth.items()
    ]
    ratio_line = f"Night {results[-1]['night']} s / night 2 s: {ratio:.2f}" if ratio else ""
    return (
        "\n\n".join(
            [
                _table(head, runs),
                _table(["night", *HISTORY_TABLES], history),
                _table(["figure", "growth per night (nights 2..K)"], grow),
                ratio_line,
            ]
        )
        + "\n"
    )


def machine() -> dict:
    memory = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        None,
    )
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024**2, 1) if memory else None,
        "uname": " ".join(platform.uname()),
        "commit": commit.strip() + (" (with uncommitted changes)" if dirty.strip() else ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--nights", type=int, default=60)
    parser.add_argument(
        "--work", type=Path, help="work folder (new or empty; default: a temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF, help="the cold night")
    args = parser.parse_args()
    if args.work and args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"{args.work} is not empty")
    root = (args.work or Path(tempfile.mkdtemp(prefix="bench-nights-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    command = " ".join(["bench/bench_nights.py", *sys.argv[1:]])
    try:
        results = run_nights(root, args.customers, args.nights, args.as_of, args.seed)
    except BaseException:
        print(f"work folder kept for a look: {root}")
        raise
    if args.keep:
        print(f"work folder kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    report(results, args, command)


def report(results: list[dict], args: argparse.Namespace, command: str) -> None:
    growth = slopes(results)
    second = next((r["seconds"] for r in results if r["night"] == 2), None)
    ratio = results[-1]["seconds"] / second if second and args.nights >= 2 else None
    print(markdown(results, growth, ratio))
    for r in results:
        for path in r["files_not_loaded"]:
            print(f"night {r['night']}: landed but not loaded: {path}")
    today = dt.date.today().isoformat()
    out = RESULTS / f"nights-{args.customers}x{args.nights}-{today}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), "date": today, "command": command, "nights": results}
    payload |= {"growth_per_night": growth, "night_k_over_night_2": ratio}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
