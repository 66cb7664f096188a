"""The nightly scoring step: validate on a holdout, pick the purchase model, refit, store scores.

0. Refit or reuse (schedule.py): the models are refitted every `refit_every_days`, when the
   stored purchase model's holdout error drifts past `refit_drift_pct`, when nothing is stored
   or on a full refresh. Any other night scores every customer with the stored fit (steps 4
   and 5 only, nothing fitted) and records in `scores.model_runs` that it reused it and why.
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

Too little history to fit the models (a young firm: no purchases, too few customers, no
repeat purchases) is not a failure: the night stores no scores for its date, one
'unavailable' model_runs row per model with the reason (unavailable.py), and the warning
check scores_available says why; the marts show the customers without CLV. A failed refit
where a stored fit exists scores with that fit instead (schedule.reuse_after_failed_refit).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from models.attrition import stored_risk
from models.clv import FitError, score_customers, too_little_history
from models.rfm import holdout_actuals, rfm_summary
from models.scoring.attrition_step import ATTRITION_MODEL, attrition_records, fit_attrition
from models.scoring.config import ScoringConfig, ScoringResult
from models.scoring.costs import acquisition_cost, service_cost_per_year
from models.scoring.purchases import PurchaseModel, RunStamp, choose_and_refit
from models.scoring.retention import prune
from models.scoring.schedule import (
    Decision,
    decide,
    dump_classifier,
    flag,
    reuse_after_failed_refit,
    reused_records,
)
from models.scoring.spend import fit_spend
from models.scoring.store import ensure_scores_schema, purchases_exist, write_scores
from models.scoring.unavailable import UNAVAILABLE, attrition_unavailable, scores_unavailable


def run_scoring(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    config: ScoringConfig = ScoringConfig(),
    plots_dir: Path | None = None,
) -> ScoringResult:
    """Score every customer with purchases up to `as_of` (idempotent per date), refitting the
    models where schedule.decide says so and reusing the stored fit otherwise; then remove the
    scores and model runs past their retention (retention.py)."""
    ensure_scores_schema(con)
    result = _score(con, as_of, run_id, config, plots_dir)
    pruned = prune(con, as_of, config.scores_keep_days, config.model_runs_keep_days)
    result.removed = pruned.note(config.scores_keep_days, config.model_runs_keep_days)
    return result


def _score(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    config: ScoringConfig,
    plots_dir: Path | None,
) -> ScoringResult:
    if not purchases_exist(con, as_of):  # e.g. a source of customers or interactions only
        result = ScoringResult(customers_scored=0, refitted=False)
        return scores_unavailable(con, as_of, run_id, f"no purchases up to {as_of}", result)
    decision = decide(con, as_of, config)
    result = ScoringResult(
        customers_scored=0, refitted=decision.refit, refit_reason=decision.reason
    )
    try:
        if decision.refit:
            scores, records, artifacts = _refit(con, as_of, run_id, config, result, plots_dir)
        else:
            scores, records = _reuse(con, as_of, run_id, config, decision, result)
            artifacts = []
    except FitError as exc:  # too little history, or no model converged on it
        fallback = reuse_after_failed_refit(con, as_of, config, str(exc))
        if fallback is None:
            return scores_unavailable(con, as_of, run_id, str(exc), result)
        result = ScoringResult(0, refitted=False, refit_reason=fallback.reason)
        result.warnings.append(fallback.reason)
        scores, records = _reuse(con, as_of, run_id, config, fallback, result)
        artifacts = []
    scores = scores.reset_index().rename(columns={"index": "customer_key"})
    scores.insert(1, "as_of_date", as_of)
    scores.insert(2, "run_id", run_id)
    write_scores(con, as_of, run_id, scores, pd.DataFrame.from_records(records), artifacts)
    result.customers_scored = len(scores)
    result.models = records
    return result


def _costs(con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig) -> dict:
    return {
        "service_cost_per_year": service_cost_per_year(con, as_of, config.assumptions),
        "assumptions": config.assumptions,
        "acquisition_cost": acquisition_cost(con),
    }


def _refit(con, as_of, run_id, config: ScoringConfig, result: ScoringResult, plots_dir):
    """Validate on the holdout, choose, refit and score: (scores, model_runs rows, artifacts)."""
    unit = config.time_unit_days
    stamp = RunStamp(run_id, as_of, as_of - dt.timedelta(days=config.holdout_days), unit)
    rfm = rfm_summary(con, as_of, unit)
    shortfall = too_little_history(rfm)
    if shortfall:
        raise FitError(f"too little history up to {as_of} to fit the CLV models: {shortfall}")
    calibration = rfm_summary(con, stamp.calibration_end, unit)
    holdout = holdout_actuals(con, stamp.calibration_end, as_of)
    purchases = choose_and_refit(
        calibration, holdout.holdout_purchases.astype(float), rfm, stamp, config, result
    )
    spend = fit_spend(rfm, calibration, holdout.holdout_spend, purchases, stamp, config, result)
    records = [*purchases.records, spend.record]
    scores = score_customers(
        rfm, purchases.fitted, spend.fitted, unit, **_costs(con, as_of, config)
    )
    attrition = fit_attrition(con, as_of, config, result)
    artifacts = []
    if attrition is None:
        records.append(attrition_unavailable(run_id, as_of, result.attrition_fallback or ""))
    else:
        scores["attrition_risk"] = attrition.risk.reindex(scores.index).fillna(1.0 - scores.p_alive)
        records += attrition_records(attrition, run_id, as_of, config)
        if attrition.fitted is not None and attrition.risk_source == "classifier":
            artifacts.append(dump_classifier(attrition.fitted, ATTRITION_MODEL))
    for record in records:
        record |= {"refitted": True, "refit_reason": result.refit_reason, "fitted_run_id": run_id}
    if plots_dir is not None:
        result.plots = _plots(
            con, plots_dir, scores, calibration, purchases, stamp, attrition, result
        )
    return scores, records, artifacts


def _reuse(con, as_of, run_id, config: ScoringConfig, decision: Decision, result: ScoringResult):
    """Score every customer with the stored fit: (scores, model_runs rows). Nothing is fitted."""
    stored = decision.stored
    unit = config.time_unit_days
    rfm = rfm_summary(con, as_of, unit)
    purchases, spend = stored.model(stored.selected), stored.model("gamma_gamma")
    scores = score_customers(rfm, purchases, spend, unit, **_costs(con, as_of, config))
    result.selected_model = stored.selected
    rows = stored.rows
    result.poor_fits = [
        n for n in (stored.selected, "gamma_gamma") if rows.loc[n].status == "poor fit"
    ]
    if ATTRITION_MODEL in rows.index and rows.loc[ATTRITION_MODEL].status == UNAVAILABLE:
        result.attrition_fallback = (
            f"the attrition classifier could not be fitted on {stored.as_of} "
            f"({rows.loc[ATTRITION_MODEL].notes}): attrition risk is 1 - P(alive)"
        )
    elif ATTRITION_MODEL in rows.index:
        risk = stored_risk(
            con,
            as_of,
            config.attrition_horizon_days,
            unit,
            stored.classifier,
            stored.model("bgnbd"),
            rfm,
        )
        scores["attrition_risk"] = risk.reindex(scores.index).fillna(1.0 - scores.p_alive)
        if not flag(rows.loc[ATTRITION_MODEL].selected):
            result.attrition_fallback = (
                f"the attrition classifier fitted on {stored.as_of} did not beat the BTYD "
                "baseline 1 - P(alive) on its holdout: the baseline is used"
            )
    result.warnings += [f"{n} (fitted on {stored.as_of}) is a poor fit" for n in result.poor_fits]
    return scores, reused_records(decision, run_id, as_of)


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
