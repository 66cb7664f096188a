"""The nightly run in tiers: a cold run and a one-day run at 10k, 100k and 1M customers.

    .venv/bin/python bench/bench_tiers.py [--tiers 10000 100000 1000000] [--out DIR]
        [--workdir DIR] [--skip-plain]

For each tier: the demo generator writes `customers` over two years (seed 7), the nightly job
runs cold (nothing built yet) as of 2025-06-30, one more day of branch transactions is landed
(bench_nightly.land_one_day) and the job runs for 2025-07-01 (incremental). Each run has a
process of its own, as a nightly `cif run` has: it imports what it uses (great-expectations,
dbt's adapter, Splink) within the run, and the memory sampled is its own. Per run: time per
stage, peak resident memory (sampled every 10 ms) of the run and of each stage (the samples between the stage's start and end events), raw rows
loaded per second, warehouse size. Then, on the cold run's published warehouse, the plain
pandas + lifetimes script a user would otherwise write for the same CLV outputs
(bench_clv.plain_clv: summary, BG/NBD and Gamma-Gamma on every customer, P(alive), 36-month
CLV) against the nightly's scoring step. Writes tiers.md and tiers.json to --out
(default bench/results/) with the issue's targets beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_clv import Step, plain_clv
from bench.bench_nightly import END, land_one_day
from ingest.demo.generator import generate
from orchestration.dbt_project import prepare_manifest
from orchestration.settings import CifSettings

RESULTS = Path(__file__).parent / "results"
SCORING_STEP = "customer_scoring"  # the run report's stage whose output the plain script reproduces
# Issue 15's targets (seconds and GB) per tier and run; None: no target.
TARGETS = {
    (100_000, "day"): "<= 15 s",
    (1_000_000, "day"): "<= 60 s (aim 20 s)",
    (1_000_000, "cold"): "<= 600 s (aim 180 s); peak <= 8 GB (aim 6)",
}


def loaded_rows(warehouse: Path) -> int:
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return int(
            con.execute("select coalesce(sum(rows_received), 0) from meta.load_batches").fetchone()[
                0
            ]
        )


def stage_peaks(settings: CifSettings, run_id: str, step: Step) -> dict[str, float]:
    """Each stage's peak: the samples between its start and end events in the run's log."""
    from orchestration.instance import dagster_instance
    from orchestration.run_report import EVENTS, step_of

    records = dagster_instance(settings).get_records_for_run(run_id, of_type=EVENTS).records
    starts: dict[str, float] = {}
    peaks = {}
    for record in records:
        entry = record.event_log_entry
        kind = entry.dagster_event.event_type_value
        name = step_of(entry) or ""
        if kind == "STEP_START":
            starts[name] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and name in starts:
            peaks[name] = step.peak_gb_between(starts[name], entry.timestamp)
    return peaks


def run(settings: CifSettings, label: str) -> dict:
    """One nightly run, measured."""
    from orchestration.definitions import build_definitions
    from orchestration.runner import run_nightly

    before = loaded_rows(settings.warehouse)
    with Step("run", label) as step:
        report = run_nightly(settings, build_definitions(settings))
    if not report.ok:
        raise SystemExit(report.explanation())
    rows = loaded_rows(settings.warehouse) - before
    return {
        "seconds": round(step.seconds, 1),
        "peak_gb": round(step.peak / 1024, 2),
        "stages": {k: round(v, 1) for k, v in report.step_seconds.items()},
        "stage_peak_gb": stage_peaks(settings, report.run_id, step),
        "rows_loaded": rows,
        "rows_per_second": round(rows / step.seconds),
        "warehouse_mb": round(settings.warehouse.stat().st_size / 1e6),
    }


def run_alone(settings: CifSettings, label: str) -> dict:
    """`run` in a new process. A day run in the cold run's process took 37.7 s at 100k where a
    process of its own took 38-46 s: the first had everything imported already."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run, (settings, label))


def plain_comparison(warehouse: Path, ours_seconds: float) -> dict:
    """The plain lifetimes script on the run's facts, against our scoring step (lifetimes is
    imported first: our run has its libraries imported too)."""
    import lifetimes  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "cif.duckdb"
        shutil.copy(warehouse, copy)
        with duckdb.connect(str(copy), read_only=True) as con, Step("plain", "lifetimes") as step:
            plain_clv(con, END)
    return {
        "plain_seconds": round(step.seconds, 1),
        "plain_peak_gb": round(step.peak / 1024, 2),
        "ours_scoring_seconds": round(ours_seconds, 1),
        "ratio": round(step.seconds / ours_seconds, 1) if ours_seconds else None,
    }


def tier(customers: int, root: Path, skip_plain: bool) -> dict:
    started = time.perf_counter()
    generate(root / "landing", customers=customers, end=END, seed=7)
    generated = time.perf_counter() - started

    result = {"customers": customers, "generated_seconds": round(generated, 1)}
    result["cold"] = run_alone(CifSettings.in_folder(root, END), f"{customers:,} cold")
    if not skip_plain:
        ours = result["cold"]["stages"].get(SCORING_STEP, 0.0)
        result["plain_clv"] = plain_comparison(root / "wh" / "cif.duckdb", ours)
    day = END + dt.timedelta(days=1)
    result["day_transactions"] = land_one_day(root / "landing", day)
    result["day"] = run_alone(CifSettings.in_folder(root, day), f"{customers:,} one more day")
    return result


def markdown(results: list[dict], command: str) -> str:
    lines = [f"Measured with `{command}` on {dt.date.today()}.", ""]
    head = ["stage"] + [f"{r['customers']:,} {run}" for r in results for run in ("cold", "day")]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    stages = list(
        dict.fromkeys(s for r in results for run in ("cold", "day") for s in r[run]["stages"])
    )

    def row(name: str, cell) -> None:
        values = [cell(r, run) for r in results for run in ("cold", "day")]
        lines.append(f"| {name} | " + " | ".join(values) + " |")

    for stage in stages:
        row(f"{stage} s", lambda r, run, s=stage: f"{r[run]['stages'].get(s, 0):.1f}")
    for stage in stages:
        row(
            f"{stage} peak GB",
            lambda r, run, s=stage: f"{r[run].get('stage_peak_gb', {}).get(s, 0):.2f}",
        )
    row("**total s**", lambda r, run: f"**{r[run]['seconds']:.1f}**")
    row("peak memory GB", lambda r, run: f"{r[run]['peak_gb']:.2f}")
    row("raw rows loaded", lambda r, run: f"{r[run]['rows_loaded']:,}")
    row("rows per second", lambda r, run: f"{r[run]['rows_per_second']:,}")
    row("warehouse MB", lambda r, run: f"{r[run]['warehouse_mb']:,}")
    row("target (issue 15)", lambda r, run: TARGETS.get((r["customers"], run), ""))
    lines.append("")
    for r in results:
        if "plain_clv" in r:
            p = r["plain_clv"]
            lines.append(
                f"- {r['customers']:,} customers: the plain pandas + lifetimes CLV script "
                f"{p['plain_seconds']:.1f} s (peak {p['plain_peak_gb']:.2f} GB) vs our scoring "
                f"step {p['ours_scoring_seconds']:.1f} s: {p['ratio']}x"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workdir", type=Path, help="keep each tier's files here")
    parser.add_argument("--skip-plain", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    prepare_manifest()
    results = []
    for customers in args.tiers:
        with tempfile.TemporaryDirectory() as tmp:
            root = (args.workdir or Path(tmp)) / f"tier-{customers}"
            if root.exists():
                shutil.rmtree(root)
            results.append(tier(customers, root, args.skip_plain))
    command = "bench/bench_tiers.py --tiers " + " ".join(str(t) for t in args.tiers)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tiers.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "tiers.md").write_text(markdown(results, command))
    print(markdown(results, command))


if __name__ == "__main__":
    main()
