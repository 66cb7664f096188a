"""The nightly run at scale: a full first run, then an incremental run that adds one day.

    .venv/bin/python bench/bench_nightly.py --customers 100000 [--workdir DIR]

Generates `--customers` over two years into a temporary folder, runs the nightly job (the
first, full load), then lands one more day of branch transactions (1% of the existing
transactions' customers buy again) and runs the job for the next day. Prints the time of each
stage of both runs and the peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ingest.demo.generator import generate
from orchestration.dbt_project import prepare_manifest
from orchestration.settings import CifSettings

END = dt.date(2025, 6, 30)


def land_one_day(landing: Path, day: dt.date, share: float = 0.01) -> int:
    """A branch transactions file for `day`, in the branch's own layout, for existing customers:
    `share` of the generator's newest (quarterly) file, about a day's transactions. Days landed
    before are not sampled: 1% of a day is a handful of rows, and two days on, none."""
    files = sorted((landing / "branch" / "transactions").glob("*.csv"))
    generated = [f for f in files if not re.fullmatch(r"txn_\d{8}", f.stem)]
    recent = pd.read_csv(generated[-1], sep=";", dtype=str)
    new = recent.sample(frac=share, random_state=1).copy()
    new["TXN_REF"] = [f"D{day:%Y%m%d}{i:07d}" for i in range(len(new))]
    new["BOOK_DT"] = day.strftime("%d.%m.%Y")
    new.to_csv(landing / "branch" / "transactions" / f"txn_{day:%Y%m%d}.csv", sep=";", index=False)
    return len(new)


def timed_run(settings: CifSettings) -> tuple[float, dict[str, float]]:
    from orchestration.definitions import build_definitions
    from orchestration.runner import run_nightly

    started = time.perf_counter()
    report = run_nightly(settings, build_definitions(settings))
    if not report.ok:
        raise SystemExit(report.explanation())
    return time.perf_counter() - started, report.step_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--workdir", type=Path, help="keep the landing zone and warehouse here (default: removed)"
    )
    args = parser.parse_args()
    console = Console()
    prepare_manifest()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        started = time.perf_counter()
        if not (root / "landing").exists():  # a kept --workdir reuses its landing zone
            generate(root / "landing", customers=args.customers, end=END, seed=7)
        generated = time.perf_counter() - started

        first_total, first = timed_run(CifSettings.in_folder(root, END))
        day = END + dt.timedelta(days=1)
        rows = land_one_day(root / "landing", day)
        second_total, second = timed_run(CifSettings.in_folder(root, day))
        size_mb = (root / "wh" / "cif.duckdb").stat().st_size / 1e6

    table = Table(title=f"Nightly runs, {args.customers:,} customers over two years (2 cores)")
    for col in ("step", "first run s", "one more day s"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for step in first:
        table.add_row(step, f"{first[step]:.1f}", f"{second.get(step, 0):.1f}")
    table.add_row("[b]total (incl. start-up)[/b]", f"{first_total:.1f}", f"{second_total:.1f}")
    console.print(f"generated in {generated:.1f} s; the extra day has {rows:,} transactions")
    console.print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    console.print(
        f"warehouse {size_mb:,.0f} MB; peak memory {peak:,.0f} MB (dbt: {children:,.0f} MB)"
    )


if __name__ == "__main__":
    main()
