"""Plots for analysts, written as PNG files with each scoring run (matplotlib, Agg backend).

- frequency_recency.png: expected purchases in the next year by frequency and recency
- expected_vs_actual.png: cumulative holdout purchases, expected vs actual, and the holdout
  calibration by calibration-period frequency
- attrition_calibration.png: predicted vs observed attrition per risk decile (out of time)
- clv_by_segment.png: distribution of 36-month net CLV per value segment
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from models.clv import FittedModel, expected_purchases

DAILY_SQL = """
select occurred_on as day, count(distinct customer_key) as purchases
from core.fct_transactions
where amount >= 0 and occurred_on > $start and occurred_on <= $end
  and customer_key in (select customer_key from calibration_keys)
group by occurred_on
"""


def value_segment(clv: pd.Series) -> pd.Series:
    """Segments as in marts.customer_360: top 10%, next 40%, the rest, by net 36-month CLV."""
    pct = clv.rank(pct=True, method="max")
    return pd.Series(
        np.where(pct >= 0.9, "top value", np.where(pct >= 0.5, "mid value", "low value")),
        index=clv.index,
    )


def _frequency_recency(scores: pd.DataFrame, path: Path) -> Path:
    f_bins = np.unique(np.quantile(scores.frequency, np.linspace(0, 1, 13)))
    r_bins = np.unique(np.quantile(scores.recency, np.linspace(0, 1, 13)))
    f = np.clip(np.digitize(scores.frequency, f_bins[1:-1]), 0, len(f_bins) - 2)
    r = np.clip(np.digitize(scores.recency, r_bins[1:-1]), 0, len(r_bins) - 2)
    grid = (
        pd.DataFrame({"f": f, "r": r, "e": scores.expected_purchases_365d.to_numpy()})
        .pivot_table(index="f", columns="r", values="e", aggfunc="mean")
        .reindex(index=range(len(f_bins) - 1), columns=range(len(r_bins) - 1))
    )
    fig, ax = plt.subplots(figsize=(7, 5))
    im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xlabel("recency (bins from low to high)")
    ax.set_ylabel("frequency (bins from low to high)")
    ax.set_xticks(range(len(r_bins) - 1), [f"{v:.0f}" for v in r_bins[:-1]], rotation=45)
    ax.set_yticks(range(len(f_bins) - 1), [f"{v:.0f}" for v in f_bins[:-1]])
    ax.set_title("Expected purchases in the next 365 days")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _expected_vs_actual(
    con: duckdb.DuckDBPyConnection,
    calibration: pd.DataFrame,
    model: FittedModel,
    start: dt.date,
    end: dt.date,
    unit: float,
    path: Path,
) -> Path:
    con.register("calibration_keys", pd.DataFrame({"customer_key": calibration.index}))
    try:
        daily = con.execute(DAILY_SQL, {"start": start, "end": end}).df()
    finally:
        con.unregister("calibration_keys")
    days = (end - start).days
    actual = (
        daily.assign(t=[(d - start).days for d in pd.to_datetime(daily.day).dt.date])
        .set_index("t")
        .purchases.reindex(range(1, days + 1), fill_value=0)
        .cumsum()
    )
    grid = np.linspace(0, days, 13)[1:]
    expected = [expected_purchases(model.fitter, t / unit, calibration).sum() for t in grid]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.plot(actual.index, actual.to_numpy(), label="actual")
    ax1.plot(grid, expected, "o--", label=f"expected ({model.name})")
    ax1.set_xlabel(f"days after calibration end ({start})")
    ax1.set_ylabel("cumulative purchase days")
    ax1.set_title("Holdout purchases: expected vs actual")
    ax1.legend()
    horizon = days / unit
    predicted = expected_purchases(model.fitter, horizon, calibration)
    per_customer = con.execute(
        "select customer_key, count(distinct occurred_on) as n from core.fct_transactions "
        "where amount >= 0 and occurred_on > $start and occurred_on <= $end group by 1",
        {"start": start, "end": end},
    ).df()
    counts = per_customer.set_index("customer_key").n.reindex(calibration.index).fillna(0.0)
    bucket = calibration.frequency.clip(upper=7).astype(int)
    table = pd.DataFrame({"x": bucket, "expected": predicted, "actual": counts}).groupby("x").mean()
    pos = np.arange(len(table))
    ax2.bar(pos - 0.2, table.actual, width=0.4, label="actual")
    ax2.bar(pos + 0.2, table.expected, width=0.4, label="expected")
    ax2.set_xticks(pos, [f"{i}+" if i == 7 else str(i) for i in table.index])
    ax2.set_xlabel("repeat purchases in the calibration period")
    ax2.set_ylabel("mean holdout purchases per customer")
    ax2.set_title("Conditional expectations")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _attrition_calibration(table: list[dict[str, Any]], path: Path) -> Path:
    frame = pd.DataFrame(table)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    ax.plot(frame.predicted, frame.observed, "o-")
    ax.set_xlabel("predicted attrition risk (decile mean)")
    ax.set_ylabel("observed attrition rate")
    ax.set_title("Attrition risk calibration (out of time)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _clv_by_segment(scores: pd.DataFrame, path: Path) -> Path:
    segments = value_segment(scores.clv_net_36m)
    order = ["low value", "mid value", "top value"]
    data = [scores.clv_net_36m[segments == s].to_numpy() for s in order]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(
        range(1, len(order) + 1), [f"{s}\n(n={len(d)})" for s, d in zip(order, data, strict=True)]
    )
    ax.set_ylabel("net CLV, 36 months")
    ax.set_title("CLV distribution by value segment")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_plots(
    folder: Path,
    scores: pd.DataFrame,
    calibration: pd.DataFrame,
    calibration_model: FittedModel,
    con: duckdb.DuckDBPyConnection,
    calibration_end: dt.date,
    as_of: dt.date,
    unit: float,
    attrition_table: list[dict[str, Any]] | None,
) -> list[Path]:
    """Write the analysts' plots of one run into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        _frequency_recency(scores, folder / "frequency_recency.png"),
        _expected_vs_actual(
            con,
            calibration,
            calibration_model,
            calibration_end,
            as_of,
            unit,
            folder / "expected_vs_actual.png",
        ),
        _clv_by_segment(scores, folder / "clv_by_segment.png"),
    ]
    if attrition_table:
        files.append(_attrition_calibration(attrition_table, folder / "attrition_calibration.png"))
    return files
