"""Benchmark: RFM, fits and scoring for N customers / M transactions, ours vs the plain approach.

    .venv/bin/python bench/bench_clv.py [--customers 1000000] [--transactions 10000000]

Synthetic BG/NBD customers over two years (daily dates) in a DuckDB file. Steps, each timed
with its peak resident memory above the step's start (sampled every 10 ms):
  ours:  RFM in DuckDB SQL (models/rfm.py), weighted BG/NBD, Pareto/NBD and Gamma-Gamma fits
         on compressed rows, scoring (P(alive), expected purchases, CLV 12/36 months) per
         distinct (frequency, recency, T) row
  plain: lifetimes' summary_data_from_transaction_data on the transactions in pandas, and an
         unweighted BG/NBD fit on one row per customer
The plain steps are the ones the issue names for the ratio; both BG/NBD fits must agree.
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
    """Time and peak RSS increase of a block."""

    rows: ClassVar[list[tuple[str, str, float, float]]] = []

    def __init__(self, group: str, name: str):
        self.group, self.name = group, name

    def __enter__(self):
        gc.collect()
        self.base = rss_mb()
        self.peak = self.base
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.01)

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


def ours(con: duckdb.DuckDBPyConnection, pareto: bool) -> tuple[dict, pd.DataFrame, dict]:
    """The project's CLV step, timed step by step: (BG/NBD params, scores, seconds per step)."""
    from models.clv import ClvAssumptions, fit_purchase_model, fit_spend_model, score_customers
    from models.rfm import compress, rfm_summary

    print(f"  {'':5} {'step':38} {'time':>10} {'peak +RSS':>11}")
    with Step("ours", "RFM in SQL"):
        rfm = rfm_summary(con, END)
    with Step("ours", "compress"):
        collapsed = compress(rfm)
    print(f"        ({len(rfm):,} customers -> {len(collapsed):,} distinct rows)")
    with Step("ours", "fit BG/NBD (weighted)"):
        bgnbd = fit_purchase_model(rfm, "bgnbd")
    if pareto:
        with Step("ours", "fit Pareto/NBD (weighted)"):
            pareto_model = fit_purchase_model(rfm, "pareto_nbd")
    with Step("ours", "fit Gamma-Gamma (weighted)"):
        spend = fit_spend_model(rfm)
    no_cost = pd.Series(dtype=float)
    with Step("ours", "score BG/NBD: P(alive), E[N], CLV 12/36m"):
        scores = score_customers(rfm, bgnbd, spend, 1.0, no_cost, ClvAssumptions())
    if pareto:
        with Step("ours", "score Pareto/NBD: P(alive), E[N], CLV"):
            score_customers(rfm, pareto_model, spend, 1.0, no_cost, ClvAssumptions())
    seconds = {name: s for g, name, s, _ in Step.rows if g == "ours"}
    return bgnbd.params, scores, seconds


def plain(con: duckdb.DuckDBPyConnection, bgnbd: dict, seconds: dict) -> None:
    """What a user would write with lifetimes alone, timed and compared with ours."""
    from lifetimes import BetaGeoFitter
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
            observation_period_end=pd.Timestamp(END),
            freq="D",
        )
    del tx
    with Step("plain", "fit BG/NBD (unweighted)"):
        fitted = BetaGeoFitter().fit(summary.frequency, summary.recency, summary["T"])
    same = np.allclose(
        [bgnbd[k] for k in ("r", "alpha", "a", "b")], fitted.params_.to_numpy(), rtol=1e-3
    )
    print(f"        BG/NBD parameters agree (rtol 1e-3): {same}")
    print(f"        weighted  {bgnbd}")
    print(f"        plain     {dict(fitted.params_.round(6))}")
    theirs = {k: v for g, k, v, _ in Step.rows if g == "plain"}
    print()
    print(f"{'comparison':44} {'ours':>8} {'plain':>8} {'ratio':>7}")
    rfm = ("RFM", seconds["RFM in SQL"], theirs["summary_data_from_transaction_data"])
    fit = (
        "BG/NBD fit",
        seconds["compress"] + seconds["fit BG/NBD (weighted)"],
        theirs["fit BG/NBD (unweighted)"],
    )
    both = ("RFM + BG/NBD fit", rfm[1] + fit[1], rfm[2] + fit[2])
    for name, a, b in (rfm, fit, both):
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
        bgnbd, scores, seconds = ours(con, args.pareto)
        if not args.skip_plain:
            plain(con, bgnbd, seconds)
        print(
            f"\nours, all steps (RFM, compress, fits, scoring): {sum(seconds.values()):.1f} s;"
            f" customers scored: {len(scores):,}"
        )


if __name__ == "__main__":
    main()
