"""The nightly scoring step: validate on a holdout, pick the purchase model, refit, store scores.

1. Calibration / holdout split ending at the as-of date: BG/NBD and Pareto/NBD are fitted on
   the calibration period and predict the holdout's purchases; the one with the lower
   per-customer MAE is chosen for this run (recorded in `scores.model_runs.selected`).
   Gamma-Gamma is validated on holdout spend (expected purchases x expected order value).
2. Every model is refitted on all data up to the as-of date and scores every customer.
3. Attrition risk comes from a scikit-learn classifier validated out of time
   (models/attrition.py); P(alive) comes from the chosen BTYD model.
4. One row per fitted model and run goes to `scores.model_runs` (parameters under their
   literature names, time unit, log-likelihood, holdout metrics, status); scores are
   historized per (customer_key, as_of_date) in `scores.customer_scores`.
A model whose holdout error passes a threshold is marked 'poor fit' and reported in
`ScoringResult.warnings` (the asset turns that into a warning check).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models.attrition import NUMERIC, AttritionResult, attrition_model, classifier
from models.clv import (
    PURCHASE_MODELS,
    ClvAssumptions,
    FitError,
    FittedModel,
    expected_purchases,
    fit_purchase_model,
    fit_spend_model,
    holdout_metrics,
    model_run_record,
    score_customers,
    spend_holdout_metrics,
    to_json,
    unit_name,
)
from models.rfm import holdout_actuals, rfm_summary

SCORES_DDL = """
create schema if not exists scores;
create table if not exists scores.customer_scores (
    customer_key bigint not null,
    as_of_date date not null,
    run_id varchar not null,
    frequency double, recency double, tenure double, monetary_value double,
    expected_purchases_365d double, p_alive double, attrition_risk double,
    expected_avg_order_value double,
    clv_gross_12m double, clv_net_12m double, clv_gross_36m double, clv_net_36m double,
    primary key (customer_key, as_of_date)
);
alter table scores.customer_scores add column if not exists purchase_model varchar;
create table if not exists scores.model_runs (
    run_id varchar not null,
    model_name varchar not null,
    as_of_date date not null,
    fitted_at timestamp not null,
    parameters json,
    time_unit varchar,
    calibration_end date,
    log_likelihood double,
    penalizer double,
    customers bigint,
    holdout_metrics json,
    status varchar not null,
    notes varchar
);
alter table scores.model_runs add column if not exists selected boolean;
alter table scores.model_runs add column if not exists calibration_parameters json;
"""

# Service cost: interactions that are not marketing (e-mail campaigns and the like are not a
# cost of serving the customer), plus an extra handling cost per complaint, over the last year.
SERVICE_SQL = """
select
    customer_key,
    count(*) filter (
        where not (coalesce(channel, '') ilike '%email%'
            or regexp_matches(lower(coalesce(interaction_type, '')), 'campaign|marketing|newsletter'))
    ) as service_interactions,
    count(*) filter (where coalesce(is_complaint, false)) as complaints
from core.fct_interactions
where occurred_at >= cast($as_of as date) - interval 365 day
  and occurred_at < cast($as_of as date) + interval 1 day
group by customer_key
"""

ACQUISITION_SQL = """
select customer_key, max(cast(acquisition_cost as double)) as acquisition_cost
from core.dim_customer
where is_current and acquisition_cost is not null
group by customer_key
"""

ATTRITION_MODEL = "attrition_gbm"


@dataclass(frozen=True)
class ScoringConfig:
    holdout_days: int = 180
    time_unit_days: float = 1.0
    max_holdout_error_pct: float = 25.0
    min_attrition_auc: float = 0.6
    attrition_horizon_days: int = 180
    assumptions: ClvAssumptions = field(default_factory=ClvAssumptions)


@dataclass
class ScoringResult:
    customers_scored: int
    models: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    selected_model: str | None = None
    poor_fits: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)

    @property
    def holdout_ok(self) -> bool:
        """No model failed its holdout threshold (the warning check of the asset)."""
        return not self.poor_fits


def ensure_scores_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCORES_DDL)


def _service_cost_per_year(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, assumptions: ClvAssumptions
) -> pd.Series:
    df = con.execute(SERVICE_SQL, {"as_of": as_of}).df().set_index("customer_key")
    return (
        df.service_interactions * assumptions.service_cost_per_interaction
        + df.complaints * assumptions.complaint_cost
    ).astype(float)


def _acquisition_cost(con: duckdb.DuckDBPyConnection) -> pd.Series | None:
    """Acquisition cost per customer where a source provides it (core.dim_customer column)."""
    has_column = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'core' "
        "and table_name = 'dim_customer' and column_name = 'acquisition_cost'"
    ).fetchone()[0]
    if not has_column:
        return None
    return con.execute(ACQUISITION_SQL).df().set_index("customer_key").acquisition_cost


@dataclass
class _Candidate:
    calibration: FittedModel | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    predicted: pd.Series | None = None


def _validate_purchase_models(
    calibration: pd.DataFrame, actual: pd.Series, config: ScoringConfig
) -> dict[str, _Candidate]:
    out: dict[str, _Candidate] = {}
    horizon = config.holdout_days / config.time_unit_days
    for name in PURCHASE_MODELS:
        cand = _Candidate()
        try:
            cand.calibration = fit_purchase_model(calibration, name)
        except FitError as exc:
            cand.status, cand.error = "not validated", str(exc)
            out[name] = cand
            continue
        cand.predicted = expected_purchases(cand.calibration.fitter, horizon, calibration)
        cand.metrics = holdout_metrics(cand.predicted, actual, calibration.frequency)
        error = cand.metrics["aggregate_error_pct"]
        if cand.calibration.poor or (
            math.isfinite(error) and abs(error) > config.max_holdout_error_pct
        ):
            cand.status = "poor fit"
        out[name] = cand
    return out


def _choose(candidates: dict[str, _Candidate]) -> str | None:
    """Lowest holdout MAE per customer, preferring models that are not a poor fit (ties:
    BG/NBD)."""
    validated = {n: c for n, c in candidates.items() if c.calibration and c.metrics}
    if not validated:
        return None
    return min(
        validated,
        key=lambda n: (
            validated[n].status != "ok",
            validated[n].metrics["mae"],
            PURCHASE_MODELS.index(n),
        ),
    )


def _purchases_exist(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> bool:
    row = con.execute(
        "select count(*) from core.fct_transactions where amount >= 0 and occurred_on <= ?",
        [as_of],
    ).fetchone()
    return bool(row and row[0])


def run_scoring(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    config: ScoringConfig = ScoringConfig(),
    plots_dir: Path | None = None,
) -> ScoringResult:
    """Fit, validate and score every customer with purchases up to `as_of` (idempotent per date)."""
    ensure_scores_schema(con)
    if not _purchases_exist(con, as_of):  # e.g. a source of customers or interactions only
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of])
        return ScoringResult(
            customers_scored=0,
            warnings=[f"no purchases up to {as_of}: no model was fitted and no customer scored"],
        )
    unit = config.time_unit_days
    calibration_end = as_of - dt.timedelta(days=config.holdout_days)
    result = ScoringResult(customers_scored=0)
    records: list[dict] = []

    # 1. Validate on the holdout and choose the purchase model.
    calibration = rfm_summary(con, calibration_end, unit)
    holdout = holdout_actuals(con, calibration_end, as_of)
    actual = holdout.holdout_purchases.astype(float)
    candidates = _validate_purchase_models(calibration, actual, config)
    chosen = _choose(candidates)
    selection = {
        "criterion": "lowest holdout MAE per customer among fits that are not poor",
        **{n: (c.metrics.get("mae") if c.metrics else None) for n, c in candidates.items()},
    }

    # 2. Refit every purchase model on all data up to the as-of date.
    rfm = rfm_summary(con, as_of, unit)
    finals: dict[str, FittedModel] = {}
    for name in PURCHASE_MODELS:
        try:
            finals[name] = fit_purchase_model(rfm, name)
        except FitError as exc:
            candidates[name].status = "failed"
            candidates[name].error = str(exc)
            result.warnings.append(f"{name} could not be fitted: {exc}")
    if not finals:
        raise FitError("no purchase model could be fitted: " + "; ".join(result.warnings))
    if chosen not in finals:
        fallback = next(n for n in PURCHASE_MODELS if n in finals)
        if chosen is None:
            result.warnings.append(f"holdout validation impossible; using {fallback} unvalidated")
        else:
            result.warnings.append(
                f"{chosen} chosen on the holdout failed to refit; using {fallback}"
            )
        chosen = fallback
    purchases = finals[chosen]
    result.selected_model = chosen
    for name, cand in candidates.items():
        if name not in finals:
            continue
        model = finals[name]
        notes = model.notes
        if cand.error:
            notes = [*notes, cand.error]
        if cand.calibration and cand.calibration.poor:
            notes = [*notes, *(f"calibration fit: {n}" for n in cand.calibration.notes)]
        model.notes = notes
        if model.poor and cand.status == "ok":
            cand.status = "poor fit"
        metrics = {**cand.metrics, "selection": selection}
        if cand.status == "poor fit" and name == chosen:
            result.poor_fits.append(name)
            error = cand.metrics.get("aggregate_error_pct", math.nan)
            result.warnings.append(
                f"{name} (chosen) is a poor fit: holdout purchase error {error:.1f}% "
                f"(threshold {config.max_holdout_error_pct}%)"
                + (f"; {'; '.join(model.notes)}" if model.notes else "")
            )
        elif cand.status == "not validated" and name == chosen:
            result.warnings.append(f"{name} not validated on the holdout: {cand.error}")
        records.append(
            model_run_record(
                model,
                run_id,
                as_of,
                calibration_end,
                unit,
                metrics,
                cand.status,
                selected=name == chosen,
                calibration_params=cand.calibration.params if cand.calibration else None,
            )
        )

    # 3. Spend: validate Gamma-Gamma on the holdout spend, refit on everything.
    spend = fit_spend_model(rfm)
    spend_metrics: dict[str, Any] = {"corr_frequency_monetary": _corr_note(spend)}
    spend_status = "poor fit" if spend.poor else "ok"
    cal_spend_params = None
    cal_purchases = candidates[chosen].calibration
    if cal_purchases is not None:
        try:
            cal_spend = fit_spend_model(calibration)
            cal_spend_params = cal_spend.params
            monetary = calibration.monetary_value.where(calibration.frequency > 0, 0.0)
            with np.errstate(all="ignore"):
                aov = np.asarray(
                    cal_spend.fitter.conditional_expected_average_profit(
                        calibration.frequency, monetary
                    ),
                    dtype=float,
                )
            predicted_spend = candidates[chosen].predicted * aov
            spend_metrics.update(
                spend_holdout_metrics(predicted_spend, holdout.holdout_spend.astype(float))
            )
            error = spend_metrics["spend_error_pct"]
            if math.isfinite(error) and abs(error) > config.max_holdout_error_pct:
                spend_status = "poor fit"
        except FitError as exc:
            spend.notes.append(f"not validated: {exc}")
    if spend_status == "poor fit":
        result.poor_fits.append("gamma_gamma")
        result.warnings.append(
            "gamma_gamma is a poor fit: "
            + "; ".join(
                [
                    *(
                        [f"holdout spend error {spend_metrics['spend_error_pct']:.1f}%"]
                        if "spend_error_pct" in spend_metrics
                        else []
                    ),
                    *spend.notes,
                ]
            )
        )
    records.append(
        model_run_record(
            spend,
            run_id,
            as_of,
            calibration_end,
            unit,
            spend_metrics,
            spend_status,
            calibration_params=cal_spend_params,
        )
    )

    # 4. Scores: CLV from the chosen model, attrition risk from the classifier.
    service = _service_cost_per_year(con, as_of, config.assumptions)
    acquisition = _acquisition_cost(con)
    scores = score_customers(rfm, purchases, spend, unit, service, config.assumptions, acquisition)
    attrition = _attrition(con, as_of, config, result)
    if attrition is not None:
        scores["attrition_risk"] = attrition.risk.reindex(scores.index).fillna(1.0 - scores.p_alive)
        records.append(_attrition_record(attrition, run_id, as_of, config))
    scores = scores.reset_index().rename(columns={"index": "customer_key"})
    scores.insert(1, "as_of_date", as_of)
    scores.insert(2, "run_id", run_id)

    runs = pd.DataFrame.from_records(records)
    con.register("new_scores", scores)
    con.register("new_runs", runs)
    try:
        con.execute("begin transaction")
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of])
        con.execute("insert into scores.customer_scores by name select * from new_scores")
        con.execute("delete from scores.model_runs where run_id = ?", [run_id])
        con.execute("insert into scores.model_runs by name select * from new_runs")
        con.execute("commit")
    except duckdb.Error:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")
        con.unregister("new_runs")
    result.customers_scored = len(scores)
    result.models = records

    if plots_dir is not None:
        try:
            from models.plots import write_plots

            result.plots = write_plots(
                Path(plots_dir),
                scores,
                calibration,
                candidates[chosen].calibration if candidates[chosen].calibration else purchases,
                con,
                calibration_end,
                as_of,
                unit,
                attrition.metrics.get("calibration") if attrition else None,
            )
        except Exception as exc:  # plots are for analysts; never fail the nightly run on them
            result.warnings.append(f"plots not written: {type(exc).__name__}: {exc}")
    return result


def _corr_note(spend: FittedModel) -> float | None:
    for note in spend.notes:
        if note.startswith("corr(frequency, monetary_value) = "):
            value = float(note.rsplit("= ", 1)[1])
            return value if math.isfinite(value) else None
    return None


def _attrition(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig, result: ScoringResult
) -> AttritionResult | None:
    try:
        attrition = attrition_model(
            con, as_of, config.attrition_horizon_days, config.time_unit_days
        )
    except FitError as exc:
        result.warnings.append(f"attrition risk falls back to 1 - P(alive): {exc}")
        return None
    auc = attrition.metrics.get("auc", math.nan)
    if attrition.status == "ok" and not (math.isfinite(auc) and auc >= config.min_attrition_auc):
        attrition.status = "poor fit"
        result.poor_fits.append(ATTRITION_MODEL)
        result.warnings.append(
            f"attrition model is a poor fit: out-of-time AUC {auc:.3f} "
            f"(threshold {config.min_attrition_auc})"
        )
    elif attrition.status != "ok":
        result.warnings.append("attrition model not validated: " + "; ".join(attrition.notes))
    return attrition


def _attrition_record(
    attrition: AttritionResult, run_id: str, as_of: dt.date, config: ScoringConfig
) -> dict[str, Any]:
    learner = classifier()
    params = {
        "learner": type(learner).__name__,
        **{
            k: v
            for k, v in learner.get_params().items()
            if k in {"max_iter", "learning_rate", "max_depth", "l2_regularization"}
        },
        "horizon_days": config.attrition_horizon_days,
        "label": f"no purchase in the next {config.attrition_horizon_days} days",
        "features": NUMERIC,
    }
    val_cut = as_of - dt.timedelta(days=config.attrition_horizon_days)
    return {
        "run_id": run_id,
        "model_name": ATTRITION_MODEL,
        "as_of_date": as_of,
        "fitted_at": dt.datetime.now().replace(microsecond=0),
        "parameters": to_json(params),
        "time_unit": unit_name(1.0),
        "calibration_end": val_cut,
        "log_likelihood": None,
        "penalizer": None,
        "customers": len(attrition.risk),
        "holdout_metrics": to_json(attrition.metrics),
        "status": attrition.status,
        "notes": "; ".join(attrition.notes) or None,
        "selected": None,
        "calibration_parameters": None,
    }
