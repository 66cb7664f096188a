"""Benchmark: RFM, fits and scoring for N customers / M transactions, ours vs the plain approach.

    .venv/bin/python bench/bench_clv.py [--customers 1000000] [--transactions 10000000]

Synthetic BG/NBD customers over two years (daily dates) in a DuckDB file. Steps, each timed
with its peak resident memory above the step's start (sampled every 10 ms):
  ours:  RFM in DuckDB SQL (models/rfm.py), BG/NBD and Gamma-Gamma fitted on a fixed random
         sample of 100,000 customers (models.clv.MAX_FIT_CUSTOMERS), scoring every customer
         (P(alive), expected purchases, CLV 12/36 months and its 90% interval) vectorised
         over distinct (frequency, T)
  plain: lifetimes alone: summary_data_from_transaction_data in pandas, BG/NBD and
         Gamma-Gamma fitted on every customer, P(alive) and customer_lifetime_value (36 months)
It prints the sample fits' parameters against the full fits' in the sample's standard errors,
and what a night that reuses the stored fit costs (models/scoring/schedule.py: RFM and scoring).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import ClassVar

import duckdb
import numpy as np
import pandas as pd

START = dt.date(2023, 7, 1)
END = dt.date(2025, 6, 30)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Step:
    """Time and peak RSS increase of a block; its RSS samples, timed, give the peak of any part
    of it (`peak_gb_between`)."""

    rows: ClassVar[list[tuple[str, str, float, float]]] = []

    def __init__(self, group: str, name: str):
        self.group, self.name = group, name

    def __enter__(self):
        gc.collect()
        self.base = rss_mb()
        self.peak = self.base
        self.samples: list[tuple[float, float]] = []  # (time.time(), RSS MB)
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while self.running:
            self.samples.append((time.time(), rss_mb()))
            self.peak = max(self.peak, self.samples[-1][1])
            time.sleep(0.01)

    def peak_gb_between(self, start: float, end: float) -> float:
        window = [rss for at, rss in self.samples if start <= at <= end]
        return round(max(window, default=float("nan")) / 1024, 2)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss_mb())
        Step.rows.append((self.group, self.name, self.seconds, self.peak - self.base))
        print(
            f"  {self.group:5} {self.name:38} {self.seconds:8.1f} s {self.peak - self.base:8.0f} MB"
        )


def synthesize(con: duckdb.DuckDBPyConnection, customers: int, transactions: int, seed: int = 1):
    """BG/NBD-like purchase days for `customers`, scaled to about `transactions` rows."""
    rng = np.random.default_rng(seed)
    days = (END - START).days
    first = rng.integers(0, days, customers)
    # Purchase rate per day scaled so that the expected total is about `transactions`.
    lam = rng.gamma(0.8, 1.0, customers)
    p = rng.beta(1.0, 6.0, customers)
    alive_days = np.minimum(
        days - first, rng.geometric(np.maximum(p, 1e-3)) / np.maximum(lam, 1e-9)
    )
    expected = lam * alive_days
    scale = (transactions - customers) / expected.sum()
    counts = rng.poisson(expected * scale)
    span = np.maximum(alive_days, 1).astype(np.int64)
    key = np.repeat(np.arange(1, customers + 1), counts)
    offsets = (rng.random(counts.sum()) * np.repeat(span, counts)).astype(np.int64)
    day = np.concatenate([first, np.repeat(first, counts) + offsets])
    key = np.concatenate([np.arange(1, customers + 1), key])
    amount = np.round(rng.gamma(4.0, 10.0, len(key)) + 1, 2)
    frame = pd.DataFrame(
        {
            "customer_key": key,
            "occurred_on": pd.Timestamp(START) + pd.to_timedelta(day, unit="D"),
            "amount": amount,
        }
    )
    con.execute("create schema if not exists core")
    con.register("frame", frame)
    con.execute(
        "create or replace table core.fct_transactions as select customer_key, "
        "cast(occurred_on as date) as occurred_on, cast(amount as decimal(18, 2)) as amount "
        "from frame"
    )
    con.unregister("frame")
    return len(frame)


def ours(con: duckdb.DuckDBPyConnection, pareto: bool) -> tuple[dict, dict, dict]:
    """The project's CLV step, timed step by step: (models, scores, seconds per step)."""
    from models.clv import ClvAssumptions, fit_purchase_model, fit_spend_model, score_customers
    from models.rfm import compress, rfm_summary

    print(f"  {'':5} {'step':38} {'time':>10} {'peak +RSS':>11}")
    with Step("ours", "RFM in SQL"):
        rfm = rfm_summary(con, END)
    print(f"        ({len(rfm):,} customers -> {len(compress(rfm)):,} distinct rows)")
    with Step("ours", "fit BG/NBD (sample, weighted)"):
        bgnbd = fit_purchase_model(rfm, "bgnbd")
    if pareto:
        with Step("ours", "fit Pareto/NBD (sample, weighted)"):
            fit_purchase_model(rfm, "pareto_nbd")
    with Step("ours", "fit Gamma-Gamma (sample)"):
        spend = fit_spend_model(rfm)
    no_cost = pd.Series(dtype=float)
    with Step("ours", "score: P(alive), CLV 12/36m, interval"):
        scores = score_customers(rfm, bgnbd, spend, 1.0, no_cost, ClvAssumptions())
    seconds = {name: s for g, name, s, _ in Step.rows if g == "ours"}
    return {"bgnbd": bgnbd, "gamma_gamma": spend}, scores, seconds


def plain(con: duckdb.DuckDBPyConnection, models: dict, scores: pd.DataFrame) -> dict:
    """The plain script (plain_clv), compared with ours; its seconds per step."""
    fitted, clv = plain_clv(con)
    _compare(models, fitted, scores, clv)
    return {k: v for g, k, v, _ in Step.rows if g == "plain"}


def plain_clv(con: duckdb.DuckDBPyConnection, end: dt.date = END) -> tuple[dict, pd.Series]:
    """What a user would write with lifetimes alone, on core.fct_transactions: summary, BG/NBD
    and Gamma-Gamma fits on every customer, P(alive) and the 36-month CLV (lifetimes'
    customer_lifetime_value). Returns the fitted models and the CLV per customer."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    with Step("plain", "summary_data_from_transaction_data"):
        tx = con.execute(
            "select customer_key, occurred_on, cast(amount as double) as amount "
            "from core.fct_transactions"
        ).df()
        summary = summary_data_from_transaction_data(
            tx,
            "customer_key",
            "occurred_on",
            monetary_value_col="amount",
            observation_period_end=pd.Timestamp(end),
            freq="D",
        )
    del tx
    with Step("plain", "fit BG/NBD (every customer)"):
        bgf = BetaGeoFitter().fit(summary.frequency, summary.recency, summary["T"])
    repeat = summary[(summary.frequency > 0) & (summary.monetary_value > 0)]
    with Step("plain", "fit Gamma-Gamma (every repeat customer)"):
        ggf = GammaGammaFitter().fit(repeat.frequency, repeat.monetary_value)
    with Step("plain", "score: P(alive), CLV 36m"):
        bgf.conditional_probability_alive(summary.frequency, summary.recency, summary["T"])
        clv = ggf.customer_lifetime_value(
            bgf,
            summary.frequency,
            summary.recency,
            summary["T"],
            summary.monetary_value,
            time=36,
            discount_rate=0.01,
            freq="D",
        )
    return {"bgnbd": bgf, "gamma_gamma": ggf}, clv


def _compare(models: dict, theirs: dict, scores: pd.DataFrame, clv: pd.Series) -> None:
    """Sample fits vs the full fits, in the sample fits' standard errors; the CLV too."""
    print()
    print(f"{'parameter':12} {'ours (sample)':>14} {'SE':>10} {'plain (all)':>12} {'diff/SE':>8}")
    for name, model in models.items():
        errors = model.standard_errors()
        for (key, value), full in zip(model.params.items(), theirs[name].params_, strict=True):
            se = errors[key]
            ratio = abs(value - full) / se if se else float("nan")
            print(
                f"{name}.{key:6} {value:14.5g} {se or float('nan'):10.3g} {full:12.5g} {ratio:8.2f}"
            )
    ours36 = scores.clv_gross_36m.reindex(clv.index)
    inside = ((clv >= scores.clv_gross_36m_p05) & (clv <= scores.clv_gross_36m_p95)).mean()
    print(
        f"36-month CLV, ours vs plain: median relative difference "
        f"{((ours36 - clv).abs() / clv).median():.2%}; plain inside our 90% interval: {inside:.1%}"
        " (lifetimes discounts 36 months of 30 days, ours of 30.44)"
    )


def report(seconds: dict, theirs: dict) -> None:
    print()
    print(f"{'comparison':44} {'ours':>8} {'plain':>8} {'ratio':>7}")
    ours_total, plain_total = sum(seconds.values()), sum(theirs.values())
    rows = (
        ("RFM", seconds["RFM in SQL"], theirs["summary_data_from_transaction_data"]),
        (
            "fits (BG/NBD + Gamma-Gamma)",
            seconds["fit BG/NBD (sample, weighted)"] + seconds["fit Gamma-Gamma (sample)"],
            theirs["fit BG/NBD (every customer)"]
            + theirs["fit Gamma-Gamma (every repeat customer)"],
        ),
        (
            "scoring",
            seconds["score: P(alive), CLV 12/36m, interval"],
            theirs["score: P(alive), CLV 36m"],
        ),
        ("the whole CLV step", ours_total, plain_total),
        (
            "a night reusing the stored fit (RFM + scoring)",
            seconds["RFM in SQL"] + seconds["score: P(alive), CLV 12/36m, interval"],
            plain_total,
        ),
    )
    for name, a, b in rows:
        print(f"{name:44} {a:7.1f}s {b:7.1f}s {b / a:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument(
        "--pareto", action="store_true", help="also fit and score Pareto/NBD (slow at 1M)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        con.execute("set threads = 2")
        t0 = time.perf_counter()
        rows = synthesize(con, args.customers, args.transactions)
        print(
            f"{args.customers:,} customers, {rows:,} transactions synthesized in "
            f"{time.perf_counter() - t0:.1f} s (DuckDB file, 2 threads)"
        )
        models, scores, seconds = ours(con, args.pareto)
        if not args.skip_plain:
            report(
                {k: v for k, v in seconds.items() if "Pareto" not in k}, plain(con, models, scores)
            )
        print(
            f"\nours, all steps (RFM, compress, fits, scoring): {sum(seconds.values()):.1f} s;"
            f" customers scored: {len(scores):,}"
        )


if __name__ == "__main__":
    main()
