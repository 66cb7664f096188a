"""The nightly scoring step: validate on a holdout, pick the purchase model, refit, store scores.

1. Calibration / holdout split ending at the as-of date: BG/NBD and Pareto/NBD are fitted on
   the calibration period and predict the holdout's purchases; the one with the lower
   per-customer MAE is chosen for this run (recorded in `scores.model_runs.selected`).
2. Every purchase model is refitted on all data up to the as-of date (purchases.py).
3. Gamma-Gamma is validated on holdout spend (expected purchases x expected order value) and
   refitted (spend.py).
4. CLV for every customer from the chosen models, net of service and acquisition cost
   (costs.py); attrition risk from a classifier validated out of time against the BTYD
   baseline 1 - P(alive), which scores the run where the classifier does not beat it
   (attrition_step.py).
5. One row per fitted model and run goes to `scores.model_runs` (parameters under their
   literature names, time unit, log-likelihood, holdout metrics, status); scores are
   historized per (customer_key, as_of_date) in `scores.customer_scores` (store.py).
A model whose holdout error passes a threshold is marked 'poor fit' and reported in
`ScoringResult.warnings` (the asset turns that into a warning check).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from models.clv import score_customers
from models.rfm import holdout_actuals, rfm_summary
from models.scoring.attrition_step import attrition_records, fit_attrition
from models.scoring.config import ScoringConfig, ScoringResult
from models.scoring.costs import acquisition_cost, service_cost_per_year
from models.scoring.purchases import PurchaseModel, RunStamp, choose_and_refit
from models.scoring.spend import fit_spend
from models.scoring.store import clear_scores, ensure_scores_schema, purchases_exist, write_scores


def run_scoring(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    config: ScoringConfig = ScoringConfig(),
    plots_dir: Path | None = None,
) -> ScoringResult:
    """Fit, validate and score every customer with purchases up to `as_of` (idempotent per date)."""
    ensure_scores_schema(con)
    if not purchases_exist(con, as_of):  # e.g. a source of customers or interactions only
        clear_scores(con, as_of)
        return ScoringResult(
            customers_scored=0,
            warnings=[f"no purchases up to {as_of}: no model was fitted and no customer scored"],
        )
    unit = config.time_unit_days
    stamp = RunStamp(run_id, as_of, as_of - dt.timedelta(days=config.holdout_days), unit)
    result = ScoringResult(customers_scored=0)
    calibration = rfm_summary(con, stamp.calibration_end, unit)
    holdout = holdout_actuals(con, stamp.calibration_end, as_of)
    rfm = rfm_summary(con, as_of, unit)
    purchases = choose_and_refit(
        calibration, holdout.holdout_purchases.astype(float), rfm, stamp, config, result
    )
    spend = fit_spend(rfm, calibration, holdout.holdout_spend, purchases, stamp, config, result)
    records = [*purchases.records, spend.record]
    scores = score_customers(
        rfm,
        purchases.fitted,
        spend.fitted,
        unit,
        service_cost_per_year(con, as_of, config.assumptions),
        config.assumptions,
        acquisition_cost(con),
    )
    attrition = fit_attrition(con, as_of, config, result)
    if attrition is not None:
        scores["attrition_risk"] = attrition.risk.reindex(scores.index).fillna(1.0 - scores.p_alive)
        records += attrition_records(attrition, run_id, as_of, config)
    scores = scores.reset_index().rename(columns={"index": "customer_key"})
    scores.insert(1, "as_of_date", as_of)
    scores.insert(2, "run_id", run_id)
    write_scores(con, as_of, run_id, scores, pd.DataFrame.from_records(records))
    result.customers_scored = len(scores)
    result.models = records
    if plots_dir is not None:
        result.plots = _plots(
            con, plots_dir, scores, calibration, purchases, stamp, attrition, result
        )
    return result


def _plots(con, plots_dir, scores, calibration, purchases: PurchaseModel, stamp, attrition, result):
    """Plots for analysts; never fail the nightly run on them."""
    try:
        from models.plots import write_plots

        return write_plots(
            Path(plots_dir),
            scores,
            calibration,
            purchases.candidate.calibration or purchases.fitted,
            con,
            stamp.calibration_end,
            stamp.as_of,
            stamp.unit,
            attrition.metrics.get("calibration") if attrition else None,
        )
    except Exception as exc:  # plots are for analysts
        result.warnings.append(f"plots not written: {type(exc).__name__}: {exc}")
        return []
