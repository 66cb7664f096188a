"""Customer lifetime value with lifetimes: BG/NBD or Pareto/NBD for purchases, Gamma-Gamma for spend.

Fits run on compressed inputs (identical (frequency, recency, T) rows collapsed with weights),
which gives the same parameters as the plain fit in a fraction of the time; predictions are
also computed once per distinct (frequency, recency, T) row and mapped back to the customers.
Parameters are reported under their names in the literature (Fader, Hardie & Lee 2005):
BG/NBD r, alpha, a, b; Pareto/NBD r, alpha, s, beta; Gamma-Gamma p, q, gamma (lifetimes calls
gamma `v`). alpha and beta are scale parameters in the data's time unit (`time_unit_days`): in days
they are 7 times their value in weeks.
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
PURCHASE_MODELS = ("bgnbd", "pareto_nbd")
PARAM_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "gamma"),
}
UNIT_NAME = {1.0: "day", 7.0: "week"}
DAYS_PER_MONTH = 365.25 / 12
# A parameter outside these bounds means the optimiser ran off to a degenerate solution.
PARAM_BOUNDS = (1e-4, 1e4)
_FIT_ERRORS = (ConvergenceError, ValueError, ZeroDivisionError, np.linalg.LinAlgError)


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
    poor: bool = False  # the fit converged but looks degenerate (see notes)


def unit_name(time_unit_days: float) -> str:
    return UNIT_NAME.get(float(time_unit_days), f"{time_unit_days:g} days")


def _params(name: str, fitter: Any) -> dict[str, float]:
    """Fitted parameters under their literature names."""
    values = [float(v) for v in fitter.params_.values]
    return dict(zip(PARAM_NAMES[name], values, strict=True))


def purchase_log_likelihood(fitter: Any, collapsed: pd.DataFrame) -> float:
    """The log-likelihood in the data's own time unit (lifetimes reports a rescaled mean)."""
    params = np.array(list(fitter.params_.values), dtype=float)
    x, rec, T = (collapsed[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = collapsed.weight.to_numpy(float)
    if isinstance(fitter, BetaGeoFitter):
        mean_nll = fitter._negative_log_likelihood(np.log(params), x, rec, T, w, 0.0)
        return -float(mean_nll) * float(w.sum())
    cll = ParetoNBDFitter._conditional_log_likelihood(params, x, rec, T)
    return float((w * cll).sum())


def _diagnose(model: FittedModel) -> None:
    low, high = PARAM_BOUNDS
    extreme = {k: v for k, v in model.params.items() if not low <= v <= high}
    if extreme:
        model.poor = True
        model.notes.append(f"degenerate parameters {extreme} (outside [{low:g}, {high:g}])")
    if not math.isfinite(model.log_likelihood):
        model.poor = True
        model.notes.append("log-likelihood is not finite")


def _refit_from(fitter: ParetoNBDFitter, collapsed: pd.DataFrame, restarts: int) -> None:
    """Nelder-Mead stops early on the flat Pareto/NBD likelihood: restart it from its own
    solution (in lifetimes' scaled time) while that still improves the likelihood."""
    for _ in range(restarts):
        before = float(fitter._negative_log_likelihood_)
        p = fitter.params_
        start = np.array([p["r"], p["alpha"] * fitter._scale, p["s"], p["beta"] * fitter._scale])
        again = ParetoNBDFitter(penalizer_coef=fitter.penalizer_coef)
        again.fit(
            collapsed.frequency,
            collapsed.recency,
            collapsed["T"],
            weights=collapsed.weight,
            initial_params=start,
            maxiter=PARETO_MAX_ITERATIONS,
        )
        if not float(again._negative_log_likelihood_) < before - 1e-9:
            return
        fitter.params_ = again.params_
        fitter._negative_log_likelihood_ = again._negative_log_likelihood_


# Nelder-Mead iterations of one Pareto/NBD fit. A likelihood that has not settled by then is
# degenerate (flat in some direction): CDNOW converges in under 300, while small synthetic
# sources ran lifetimes' default 2000 through every penalizer and restart, two minutes of
# scipy's hyp2f1 for 80 customers.
PARETO_MAX_ITERATIONS = 400
PARETO_RESTARTS = 1  # a restart from its own solution recovers what Nelder-Mead left

# Above this many customers the parameters are estimated on a fixed random sample: the
# estimates are as good, and Pareto/NBD's fit time grows with the distinct (x, t_x, T) rows.
MAX_FIT_CUSTOMERS = 100_000


def fit_purchase_model(
    rfm: pd.DataFrame, model: str = "bgnbd", max_customers: int = MAX_FIT_CUSTOMERS
) -> FittedModel:
    """Fit BG/NBD ('bgnbd') or Pareto/NBD ('pareto_nbd') on compressed RFM.

    A failed or non-finite fit is retried with a growing penalizer; if none converges a
    FitError says why. A converged fit with degenerate parameters is kept but marked poor."""
    if model not in PURCHASE_MODELS:
        raise ValueError(f"unknown purchase model {model!r}")
    if len(rfm) < 10 or rfm.frequency.sum() == 0:
        raise FitError(f"{model}: too little data ({len(rfm)} customers, no repeat purchases)")
    sample_note = []
    if len(rfm) > max_customers:
        sample_note = [f"fitted on a random sample of {max_customers:,} of {len(rfm):,} customers"]
        rfm = rfm.sample(max_customers, random_state=0)
    collapsed = compress(rfm)
    if model == "pareto_nbd":
        # lifetimes' Pareto/NBD likelihood is NaN at recency == T for frequent buyers (a
        # purchase on the end date); a nudge of 1e-6 time units keeps it finite.
        at_end = (collapsed.recency >= collapsed["T"]) & (collapsed["T"] > 0)
        collapsed.loc[at_end, "recency"] = collapsed.loc[at_end, "T"] - 1e-6
    errors = []
    for penalizer in PENALIZERS:
        fitter = (BetaGeoFitter if model == "bgnbd" else ParetoNBDFitter)(penalizer_coef=penalizer)
        args = (collapsed.frequency, collapsed.recency, collapsed["T"])
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                # Fixed start values (lifetimes draws random ones): the same data, the same fit.
                options = {"maxiter": PARETO_MAX_ITERATIONS} if model == "pareto_nbd" else {}
                fitter.fit(*args, weights=collapsed.weight, initial_params=np.ones(4), **options)
                if model == "pareto_nbd":
                    _refit_from(fitter, collapsed, restarts=PARETO_RESTARTS)
        except _FIT_ERRORS as exc:
            errors.append(f"penalizer {penalizer}: {exc}".splitlines()[0])
            continue
        params = _params(model, fitter)
        if not all(math.isfinite(v) and v > 0 for v in params.values()):
            errors.append(f"penalizer {penalizer}: non-finite parameters {params}")
            continue
        with np.errstate(all="ignore"):
            ll = purchase_log_likelihood(fitter, collapsed)
        if not math.isfinite(ll):
            errors.append(f"penalizer {penalizer}: log-likelihood {ll}")
            continue
        notes = sample_note + ([f"converged only with penalizer {penalizer}"] if penalizer else [])
        fitted = FittedModel(model, fitter, params, ll, penalizer, len(rfm), notes)
        _diagnose(fitted)
        return fitted
    raise FitError(f"{model} did not converge: " + "; ".join(errors))


def spend_independence(rfm: pd.DataFrame) -> float:
    """Pearson correlation of frequency and mean spend among repeat customers (Gamma-Gamma
    assumes none)."""
    repeat = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
    if len(repeat) < 3:
        return float("nan")
    return float(np.corrcoef(repeat.frequency, repeat.monetary_value)[0, 1])


def fit_spend_model(rfm: pd.DataFrame, max_abs_corr: float = 0.3) -> FittedModel:
    """Gamma-Gamma on repeat customers with positive spend; reports the independence check."""
    repeat = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
    if len(repeat) < 10:
        raise FitError(f"gamma_gamma: only {len(repeat)} repeat customers with spend")
    correlation = spend_independence(rfm)
    notes = [f"corr(frequency, monetary_value) = {correlation:.3f}"]
    grouped = repeat.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    errors = []
    for penalizer in PENALIZERS:
        fitter = GammaGammaFitter(penalizer_coef=penalizer)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                fitter.fit(
                    grouped.frequency,
                    grouped.monetary_value,
                    weights=grouped.weight,
                    initial_params=np.ones(3),
                )
        except _FIT_ERRORS as exc:
            errors.append(f"penalizer {penalizer}: {exc}".splitlines()[0])
            continue
        params = _params("gamma_gamma", fitter)
        w = grouped.weight.to_numpy(float)
        nll = fitter._negative_log_likelihood(
            np.log(list(fitter.params_.values)),
            grouped.frequency.to_numpy(float),
            grouped.monetary_value.to_numpy(float),
            w,
            0.0,
        )
        model = FittedModel(
            "gamma_gamma", fitter, params, -float(nll) * float(w.sum()), penalizer, len(repeat)
        )
        model.notes = [*notes, *([f"converged only with penalizer {penalizer}"] * bool(penalizer))]
        if abs(correlation) > max_abs_corr:
            model.poor = True
            model.notes.append(
                f"independence assumption of Gamma-Gamma is doubtful (|corr| > {max_abs_corr})"
            )
        if params["q"] <= 1:
            model.poor = True
            model.notes.append("q <= 1: the population mean spend is undefined")
        _diagnose(model)
        return model
    raise FitError("gamma_gamma did not converge: " + "; ".join(errors))


def _per_row(rfm: pd.DataFrame, compute) -> pd.DataFrame:
    """Apply `compute(unique_rows) -> DataFrame` once per distinct (frequency, recency, T)."""
    keys = ["frequency", "recency", "T"]
    unique = rfm[keys].drop_duplicates().reset_index(drop=True)
    inputs = unique.copy()
    at_end = (inputs.recency >= inputs["T"]) & (inputs["T"] > 0)  # see fit_purchase_model
    inputs.loc[at_end, "recency"] = inputs.loc[at_end, "T"] - 1e-6
    with np.errstate(all="ignore"):
        values = compute(inputs)
    merged = rfm[keys].merge(pd.concat([unique, values], axis=1), on=keys, how="left")
    merged.index = rfm.index
    return merged.drop(columns=keys)


def expected_purchases(fitter: Any, t: float, rfm: pd.DataFrame) -> pd.Series:
    """Expected purchases in the next `t` time units, per customer."""
    out = _per_row(
        rfm,
        lambda u: pd.DataFrame(
            {
                "e": np.asarray(
                    fitter.conditional_expected_number_of_purchases_up_to_time(
                        t, u.frequency, u.recency, u["T"]
                    ),
                    dtype=float,
                )
            }
        ),
    )
    return out.e


def spend_holdout_metrics(predicted_spend: pd.Series, actual_spend: pd.Series) -> dict[str, float]:
    """Holdout accuracy of the spend prediction (expected purchases x expected order value)."""
    actual = actual_spend.reindex(predicted_spend.index).fillna(0.0).astype(float)
    total_pred, total_act = float(predicted_spend.sum()), float(actual.sum())
    return {
        "predicted_spend": total_pred,
        "actual_spend": total_act,
        "spend_error_pct": 100.0 * (total_pred - total_act) / total_act if total_act else math.nan,
        "spend_mae": float((predicted_spend - actual).abs().mean()),
        "spend_correlation": _corr(predicted_spend, actual),
    }


def _corr(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a.astype(float), b.astype(float))[0, 1])


def holdout_metrics(
    predicted: pd.Series, actual: pd.Series, frequency: pd.Series | None = None
) -> dict[str, Any]:
    """Aggregate and per-customer accuracy of predicted vs actual holdout purchases, and the
    calibration table by calibration-period frequency (Fader, Hardie & Lee 2005, figure 3)."""
    actual = actual.reindex(predicted.index).fillna(0.0).astype(float)
    total_pred, total_act = float(predicted.sum()), float(actual.sum())
    metrics: dict[str, Any] = {
        "customers": float(len(predicted)),
        "predicted_purchases": total_pred,
        "actual_purchases": total_act,
        "aggregate_error_pct": 100.0 * (total_pred - total_act) / total_act
        if total_act
        else math.nan,
        "mae": float((predicted - actual).abs().mean()),
        "rmse": float(np.sqrt(((predicted - actual) ** 2).mean())),
        "correlation": _corr(predicted, actual),
    }
    if frequency is not None:
        bucket = frequency.reindex(predicted.index).clip(upper=7).astype(int)
        table = (
            pd.DataFrame({"x": bucket, "predicted": predicted, "actual": actual})
            .groupby("x")
            .agg(
                customers=("actual", "size"),
                predicted=("predicted", "mean"),
                actual=("actual", "mean"),
            )
            .reset_index()
        )
        metrics["calibration_by_frequency"] = [
            {
                "frequency": f"{int(r.x)}+" if r.x == 7 else str(int(r.x)),
                "customers": int(r.customers),
                "predicted_mean": float(r.predicted),
                "actual_mean": float(r.actual),
            }
            for r in table.itertuples()
        ]
    return metrics


@dataclass(frozen=True)
class ClvAssumptions:
    """Business assumptions of the value calculation (documented in the README)."""

    monthly_discount_rate: float = 0.01
    service_cost_per_interaction: float = 5.0
    complaint_cost: float = 20.0  # extra handling cost of a complaint
    margin: float = 1.0  # share of spend that is contribution; 1.0 = spend is value


def discounted_purchases_by_horizon(
    fitter: Any,
    rfm: pd.DataFrame,
    horizons: tuple[int, ...],
    time_unit_days: float,
    monthly_rate: float,
) -> pd.DataFrame:
    """Per horizon H (months): sum over i <= H of expected purchases in month i / (1 + rate)^i.

    One pass over the months serves every horizon (column `m<H>`)."""
    step = DAYS_PER_MONTH / time_unit_days

    def compute(u: pd.DataFrame) -> pd.DataFrame:
        total = np.zeros(len(u))
        previous = np.zeros(len(u))
        out = {}
        for i in range(1, max(horizons) + 1):
            cumulative = np.asarray(
                fitter.conditional_expected_number_of_purchases_up_to_time(
                    i * step, u.frequency, u.recency, u["T"]
                ),
                dtype=float,
            )
            total = total + (cumulative - previous) / (1.0 + monthly_rate) ** i
            previous = cumulative
            if i in horizons:
                out[f"m{i}"] = total
        return pd.DataFrame(out)

    return _per_row(rfm, compute)


def discounted_purchases(
    fitter: Any, rfm: pd.DataFrame, months: int, time_unit_days: float, monthly_rate: float
) -> pd.Series:
    """Sum over the next `months` months of expected purchases in month i / (1 + rate)^i."""
    return discounted_purchases_by_horizon(fitter, rfm, (months,), time_unit_days, monthly_rate)[
        f"m{months}"
    ]


def score_customers(
    rfm: pd.DataFrame,
    purchases: FittedModel,
    spend: FittedModel,
    time_unit_days: float,
    service_cost_per_year: pd.Series,
    assumptions: ClvAssumptions = ClvAssumptions(),
    acquisition_cost: pd.Series | None = None,
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected order value and CLV (12 and 36 months).

    Gross CLV = discounted expected purchases x expected order value (Gamma-Gamma) x margin.
    Net CLV subtracts the expected service cost (last year's cost per year, for as long as the
    customer is alive, discounted) and the acquisition cost where known."""
    fitter = purchases.fitter
    year = 365.0 / time_unit_days
    out = pd.DataFrame(index=rfm.index)
    out["frequency"] = rfm.frequency
    out["recency"] = rfm.recency
    out["tenure"] = rfm["T"]
    out["monetary_value"] = rfm.monetary_value
    per_row = _per_row(
        rfm,
        lambda u: pd.DataFrame(
            {
                "e365": np.asarray(
                    fitter.conditional_expected_number_of_purchases_up_to_time(
                        year, u.frequency, u.recency, u["T"]
                    ),
                    dtype=float,
                ),
                "p_alive": np.asarray(
                    fitter.conditional_probability_alive(u.frequency, u.recency, u["T"]),
                    dtype=float,
                ),
            }
        ),
    )
    out["expected_purchases_365d"] = per_row.e365
    out["p_alive"] = per_row.p_alive.clip(0.0, 1.0)
    monetary = rfm.monetary_value.where((rfm.monetary_value > 0) & (rfm.frequency > 0), 0.0)
    with np.errstate(all="ignore"):
        out["expected_avg_order_value"] = np.asarray(
            spend.fitter.conditional_expected_average_profit(rfm.frequency, monetary), dtype=float
        )
    yearly_service = service_cost_per_year.reindex(rfm.index).fillna(0.0).astype(float)
    acquisition = (
        acquisition_cost.reindex(rfm.index).fillna(0.0).astype(float)
        if acquisition_cost is not None
        else 0.0
    )
    d = assumptions.monthly_discount_rate
    discounted = discounted_purchases_by_horizon(fitter, rfm, (12, 36), time_unit_days, d)
    for months in (12, 36):
        gross = discounted[f"m{months}"] * out.expected_avg_order_value * assumptions.margin
        annuity = sum(1.0 / (1.0 + d) ** i for i in range(1, months + 1))
        service = yearly_service / 12.0 * annuity * out.p_alive
        out[f"clv_gross_{months}m"] = gross
        out[f"clv_net_{months}m"] = gross - service - acquisition
    out["attrition_risk"] = 1.0 - out.p_alive
    out["purchase_model"] = purchases.name
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def to_json(value: Any) -> str:
    """JSON with NaN/inf as null (DuckDB's JSON type rejects NaN)."""
    return json.dumps(_clean(value))


def model_run_record(
    model: FittedModel,
    run_id: str,
    as_of: dt.date,
    calibration_end: dt.date,
    time_unit_days: float,
    metrics: dict[str, Any],
    status: str,
    selected: bool | None = None,
    calibration_params: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One row of scores.model_runs."""
    return {
        "run_id": run_id,
        "model_name": model.name,
        "as_of_date": as_of,
        "fitted_at": dt.datetime.now().replace(microsecond=0),
        "parameters": to_json(model.params),
        "time_unit": unit_name(time_unit_days),
        "calibration_end": calibration_end,
        "log_likelihood": model.log_likelihood,
        "penalizer": model.penalizer,
        "customers": model.customers,
        "holdout_metrics": to_json(metrics),
        "status": status,
        "notes": "; ".join(model.notes) or None,
        "selected": selected,
        "calibration_parameters": to_json(calibration_params) if calibration_params else None,
    }
