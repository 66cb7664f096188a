"""Customer lifetime value with lifetimes: BG/NBD for purchases, Gamma-Gamma for spend.

Fits run on compressed inputs (identical (frequency, recency, T) rows collapsed with weights),
which gives the same parameters as the plain fit in a fraction of the time. Every run is
validated on a holdout: the model fitted on the calibration period predicts the holdout's
purchases, and the metrics are stored with the parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import ConvergenceError

from models.rfm import compress

PENALIZERS = (0.0, 0.001, 0.01, 0.1)
FREQ_CODE = {1.0: "D", 7.0: "W"}
UNIT_NAME = {1.0: "day", 7.0: "week"}


class FitError(RuntimeError):
    """A model could not be fitted (no convergence with any penalizer, or too little data)."""


@dataclass
class FittedModel:
    name: str
    fitter: Any
    params: dict[str, float]
    log_likelihood: float
    penalizer: float
    customers: int
    notes: list[str] = field(default_factory=list)


def _params(fitter: Any) -> dict[str, float]:
    return {k: float(v) for k, v in fitter.params_.items()}


def purchase_log_likelihood(fitter: Any, collapsed: pd.DataFrame) -> float:
    """The log-likelihood in the data's own time unit (lifetimes reports it on rescaled data)."""
    params = np.array(list(fitter.params_.values), dtype=float)
    args = (collapsed.frequency, collapsed.recency, collapsed["T"], collapsed.weight, 0.0)
    if isinstance(fitter, BetaGeoFitter):
        mean_nll = fitter._negative_log_likelihood(np.log(params), *args)
    else:
        mean_nll = fitter._negative_log_likelihood(params, *args)
    return -float(mean_nll) * float(collapsed.weight.sum())


def fit_purchase_model(rfm: pd.DataFrame, model: str = "bgnbd") -> FittedModel:
    """Fit BG/NBD ('bgnbd') or Pareto/NBD ('pareto_nbd') on compressed RFM, with restarts."""
    if len(rfm) < 10 or rfm.frequency.sum() == 0:
        raise FitError(f"{model}: too little data ({len(rfm)} customers, no repeat purchases)")
    collapsed = compress(rfm)
    errors = []
    for penalizer in PENALIZERS:
        fitter = (BetaGeoFitter if model == "bgnbd" else ParetoNBDFitter)(penalizer_coef=penalizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fitter.fit(
                    collapsed.frequency, collapsed.recency, collapsed["T"], weights=collapsed.weight
                )
        except (ConvergenceError, ValueError, np.linalg.LinAlgError) as exc:
            errors.append(f"penalizer {penalizer}: {exc}".splitlines()[0])
            continue
        params = _params(fitter)
        if not all(math.isfinite(v) and v > 0 for v in params.values()):
            errors.append(f"penalizer {penalizer}: non-finite parameters {params}")
            continue
        ll = purchase_log_likelihood(fitter, collapsed)
        notes = [f"converged only with penalizer {penalizer}"] if penalizer else []
        return FittedModel(model, fitter, params, ll, penalizer, len(rfm), notes)
    raise FitError(f"{model} did not converge: " + "; ".join(errors))


def fit_spend_model(rfm: pd.DataFrame) -> FittedModel:
    """Gamma-Gamma on repeat customers with positive spend; reports the independence check."""
    repeat = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
    if len(repeat) < 10:
        raise FitError(f"gamma_gamma: only {len(repeat)} repeat customers with spend")
    correlation = float(repeat[["frequency", "monetary_value"]].corr().iloc[0, 1])
    notes = [f"corr(frequency, monetary_value) = {correlation:.3f}"]
    if abs(correlation) > 0.3:
        notes.append("independence assumption of Gamma-Gamma is doubtful (|corr| > 0.3)")
    grouped = repeat.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    errors = []
    for penalizer in PENALIZERS:
        fitter = GammaGammaFitter(penalizer_coef=penalizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fitter.fit(grouped.frequency, grouped.monetary_value, weights=grouped.weight)
        except (ConvergenceError, ValueError, np.linalg.LinAlgError) as exc:
            errors.append(f"penalizer {penalizer}: {exc}".splitlines()[0])
            continue
        ll = -float(fitter._negative_log_likelihood_) * float(grouped.weight.sum())
        return FittedModel(
            "gamma_gamma", fitter, _params(fitter), ll, penalizer, len(repeat), notes
        )
    raise FitError("gamma_gamma did not converge: " + "; ".join(errors))


def holdout_metrics(predicted: pd.Series, actual: pd.Series) -> dict[str, float]:
    """Aggregate and per-customer accuracy of predicted vs actual holdout purchases."""
    actual = actual.reindex(predicted.index).fillna(0.0)
    total_pred, total_act = float(predicted.sum()), float(actual.sum())
    corr = (
        float(np.corrcoef(predicted, actual)[0, 1])
        if len(predicted) > 2 and actual.std() > 0
        else float("nan")
    )
    return {
        "customers": float(len(predicted)),
        "predicted_purchases": total_pred,
        "actual_purchases": total_act,
        "aggregate_error_pct": 100.0 * (total_pred - total_act) / total_act
        if total_act
        else float("nan"),
        "mae": float((predicted - actual).abs().mean()),
        "correlation": corr,
    }


@dataclass(frozen=True)
class ClvAssumptions:
    """Business assumptions of the value calculation (documented in the README)."""

    monthly_discount_rate: float = 0.01
    service_cost_per_interaction: float = 5.0
    margin: float = 1.0  # share of spend that is contribution; 1.0 = spend is value


def score_customers(
    rfm: pd.DataFrame,
    purchases: FittedModel,
    spend: FittedModel,
    time_unit_days: float,
    interactions_per_year: pd.Series,
    assumptions: ClvAssumptions = ClvAssumptions(),
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected order value and CLV (12 and 36 months)."""
    fitter = purchases.fitter
    year = 365.0 / time_unit_days
    out = pd.DataFrame(index=rfm.index)
    out["frequency"] = rfm.frequency
    out["recency"] = rfm.recency
    out["tenure"] = rfm["T"]
    out["monetary_value"] = rfm.monetary_value
    out["expected_purchases_365d"] = fitter.conditional_expected_number_of_purchases_up_to_time(
        year, rfm.frequency, rfm.recency, rfm["T"]
    )
    out["p_alive"] = fitter.conditional_probability_alive(rfm.frequency, rfm.recency, rfm["T"])
    spend_fitter = spend.fitter
    out["expected_avg_order_value"] = spend_fitter.conditional_expected_average_profit(
        rfm.frequency, rfm.monetary_value.where(rfm.monetary_value > 0, 0.0)
    )
    freq = FREQ_CODE.get(time_unit_days, "D")
    yearly_service = (
        interactions_per_year.reindex(rfm.index).fillna(0.0)
        * assumptions.service_cost_per_interaction
    )
    for months in (12, 36):
        gross = (
            spend_fitter.customer_lifetime_value(
                fitter,
                rfm.frequency,
                rfm.recency,
                rfm["T"],
                rfm.monetary_value.where(rfm.monetary_value > 0, 0.0),
                time=months,
                discount_rate=assumptions.monthly_discount_rate,
                freq=freq,
            )
            * assumptions.margin
        )
        service = yearly_service * (months / 12.0) * out.p_alive
        out[f"clv_gross_{months}m"] = gross
        out[f"clv_net_{months}m"] = gross - service
    out["attrition_risk"] = 1.0 - out.p_alive
    return out


def model_run_record(
    model: FittedModel,
    run_id: str,
    as_of: dt.date,
    calibration_end: dt.date,
    time_unit_days: float,
    metrics: dict[str, float],
    status: str,
) -> dict[str, Any]:
    """One row of scores.model_runs."""
    return {
        "run_id": run_id,
        "model_name": model.name,
        "as_of_date": as_of,
        "fitted_at": dt.datetime.now().replace(microsecond=0),
        "parameters": json.dumps(model.params),
        "time_unit": UNIT_NAME.get(time_unit_days, f"{time_unit_days} days"),
        "calibration_end": calibration_end,
        "log_likelihood": model.log_likelihood,
        "penalizer": model.penalizer,
        "customers": model.customers,
        "holdout_metrics": json.dumps(
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
        ),
        "status": status,
        "notes": "; ".join(model.notes) or None,
    }
