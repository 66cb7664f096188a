"""Customer lifetime value with lifetimes: BG/NBD or Pareto/NBD for purchases, Gamma-Gamma for spend.

Fits run on compressed inputs (identical (frequency, recency, T) rows collapsed with weights),
which gives the same parameters as the plain fit in a fraction of the time. Predictions are
lifetimes' closed forms vectorised in numpy over every customer (models/clv_predict.py): the
costly part, which depends on (frequency, T) only, once per distinct row, spread back by index.
Parameters are reported under their names in the literature (Fader, Hardie & Lee 2005):
BG/NBD r, alpha, a, b; Pareto/NBD r, alpha, s, beta; Gamma-Gamma p, q, gamma (lifetimes calls
gamma `v`). alpha and beta are scale parameters in the data's time unit (`time_unit_days`): in days
they are 7 times their value in weeks.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

from models import clv_predict as btyd
from models.clv_gradients import bgnbd_gradient, gamma_gamma_gradient
from models.clv_predict import Histories
from models.fitting import Optimum, log_param_covariance, minimise
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
# Fewer customers (BG/NBD, Pareto/NBD) or repeat customers with spend (Gamma-Gamma) than
# this leave the population's heterogeneity unestimated.
MIN_FIT_CUSTOMERS = 10


class FitError(RuntimeError):
    """A model could not be fitted (no convergence with any penalizer, or too little data)."""


def too_little_history(rfm: pd.DataFrame) -> str | None:
    """Why the CLV models cannot be fitted on `rfm` yet (a young firm's first nights), or
    None: enough customers, with enough repeat purchases and spend."""
    repeat = int(((rfm.frequency > 0) & (rfm.monetary_value > 0)).sum()) if len(rfm) else 0
    if len(rfm) < MIN_FIT_CUSTOMERS:
        return f"only {len(rfm)} customers with purchases (the models need {MIN_FIT_CUSTOMERS})"
    if not (rfm.frequency > 0).any():
        return f"no repeat purchases yet ({len(rfm)} customers, one purchase day each)"
    if repeat < MIN_FIT_CUSTOMERS:
        return (
            f"only {repeat} customers with repeat purchases (Gamma-Gamma needs "
            f"{MIN_FIT_CUSTOMERS} to estimate spend)"
        )
    return None


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
    # Covariance of the log parameters (literature order); None where not identified.
    log_cov: np.ndarray | None = None

    def standard_errors(self) -> dict[str, float | None]:
        """Standard errors of the parameters (delta method on the log parameters)."""
        if self.log_cov is None:
            return dict.fromkeys(self.params)
        sd = np.sqrt(np.clip(np.diag(self.log_cov), 0, None))
        return {k: float(v * s) for (k, v), s in zip(self.params.items(), sd, strict=True)}

    def p_alive(self, rfm: pd.DataFrame) -> pd.Series:
        """P(alive) per customer (computed once per distinct (frequency, recency, T))."""
        return p_alive(self.fitter, rfm)

    def expected_purchases(self, t: float, rfm: pd.DataFrame) -> pd.Series:
        return expected_purchases(self.fitter, t, rfm)

    def p_no_purchase(self, t: float, rfm: pd.DataFrame) -> pd.Series:
        """P(no purchase in the next t time units) per customer: the dead, and the living who
        happen not to buy (BG/NBD: the posterior purchase rate is gamma(r + x, alpha + T))."""
        if self.name != "bgnbd":
            raise ValueError("p_no_purchase is implemented for BG/NBD")
        alive = self.p_alive(rfm)
        r, alpha = self.params["r"], self.params["alpha"]
        quiet = ((alpha + rfm["T"]) / (alpha + rfm["T"] + t)) ** (r + rfm.frequency)
        return (1.0 - alive) + alive * quiet


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


# Above this many customers the parameters are estimated on a fixed random sample: the
# estimates agree with the full fit within their standard errors (bench/bench_clv.py
# measures it at 1M customers), and the fit time grows with the distinct (x, t_x, T) rows.
MAX_FIT_CUSTOMERS = 100_000
SCALED = {"bgnbd": ("alpha",), "pareto_nbd": ("alpha", "beta")}


def _purchase_nll(model: str, collapsed: pd.DataFrame, scale: float, penalizer: float):
    """The mean negative log-likelihood over log parameters in scaled time (lifetimes')."""
    x = collapsed.frequency.to_numpy(float)
    t = collapsed.recency.to_numpy(float) * scale
    T = collapsed["T"].to_numpy(float) * scale
    w = collapsed.weight.to_numpy(float)
    if model == "bgnbd":
        return lambda lp: BetaGeoFitter._negative_log_likelihood(lp, x, t, T, w, penalizer)
    return lambda lp: ParetoNBDFitter._negative_log_likelihood(np.exp(lp), x, t, T, w, penalizer)


def _purchase_gradient(model: str, collapsed: pd.DataFrame, scale: float, penalizer: float):
    """The gradient of _purchase_nll where it is written out (BG/NBD), else None."""
    if model != "bgnbd":
        return None
    x = collapsed.frequency.to_numpy(float)
    t = collapsed.recency.to_numpy(float) * scale
    T = collapsed["T"].to_numpy(float) * scale
    return bgnbd_gradient(x, t, T, collapsed.weight.to_numpy(float), penalizer)


def _fit_once(model: str, collapsed: pd.DataFrame, penalizer: float) -> tuple[Any, Optimum]:
    """One bounded fit (models/fitting.py), installed into a lifetimes fitter for prediction."""
    scale = 1.0 / float(collapsed["T"].max())
    nll = _purchase_nll(model, collapsed, scale, penalizer)
    optimum = minimise(nll, 4, _purchase_gradient(model, collapsed, scale, penalizer))
    names = PARAM_NAMES[model]
    params = pd.Series(np.exp(optimum.log_params), index=list(fitter_names(model)))
    for literature, lifetimes_name in zip(names, fitter_names(model), strict=True):
        if literature in SCALED[model]:
            params[lifetimes_name] /= scale
    fitter = (BetaGeoFitter if model == "bgnbd" else ParetoNBDFitter)(penalizer_coef=penalizer)
    fitter._scale = scale
    fitter.params_ = params
    fitter._negative_log_likelihood_ = optimum.mean_nll
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter, optimum


def fitter_names(model: str) -> tuple[str, ...]:
    """lifetimes' names of a purchase model's parameters (in literature order)."""
    return ("r", "alpha", "a", "b") if model == "bgnbd" else ("r", "alpha", "s", "beta")


def _prepared(rfm: pd.DataFrame, model: str, max_customers: int) -> tuple[pd.DataFrame, list]:
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
    return collapsed, sample_note


def fit_purchase_model(
    rfm: pd.DataFrame, model: str = "bgnbd", max_customers: int = MAX_FIT_CUSTOMERS
) -> FittedModel:
    """Fit BG/NBD ('bgnbd') or Pareto/NBD ('pareto_nbd') on compressed RFM.

    A fit whose likelihood is not finite is retried with a growing penalizer; if none works a
    FitError says why. A fit at a search bound or with degenerate parameters is kept but
    marked poor; its standard errors are None where the Hessian is not positive definite."""
    if model not in PURCHASE_MODELS:
        raise ValueError(f"unknown purchase model {model!r}")
    if len(rfm) < MIN_FIT_CUSTOMERS or rfm.frequency.sum() == 0:
        raise FitError(f"{model}: too little data ({len(rfm)} customers, no repeat purchases)")
    collapsed, sample_note = _prepared(rfm, model, max_customers)
    errors = []
    for penalizer in PENALIZERS:
        fitter, optimum = _fit_once(model, collapsed, penalizer)
        params = _params(model, fitter)
        with np.errstate(all="ignore"):
            ll = purchase_log_likelihood(fitter, collapsed)
        if not (all(math.isfinite(v) and v > 0 for v in params.values()) and math.isfinite(ll)):
            errors.append(f"penalizer {penalizer}: parameters {params}, log-likelihood {ll}")
            continue
        notes = sample_note + ([f"converged only with penalizer {penalizer}"] if penalizer else [])
        customers = int(collapsed.weight.sum())
        fitted = FittedModel(model, fitter, params, ll, penalizer, customers, notes)
        scale = fitter._scale
        fitted.log_cov = log_param_covariance(
            _purchase_nll(model, collapsed, scale, penalizer),
            optimum.log_params,
            float(collapsed.weight.sum()),
            _purchase_gradient(model, collapsed, scale, penalizer),
        )
        _report_search(fitted, optimum)
        _diagnose(fitted)
        return fitted
    raise FitError(f"{model} did not converge: " + "; ".join(errors))


def _report_search(fitted: FittedModel, optimum: Optimum) -> None:
    names = list(fitted.params)
    if optimum.at_bound:
        fitted.poor = True
        fitted.notes.append(
            "not identified by these data: "
            + ", ".join(names[i] for i in optimum.at_bound)
            + " stopped at a search bound"
        )
    elif fitted.log_cov is None:
        fitted.poor = True
        fitted.notes.append("not identified by these data: the likelihood is flat at the optimum")
    if not optimum.converged:
        fitted.notes.append(f"optimiser: {optimum.message}")


def spend_independence(rfm: pd.DataFrame) -> float:
    """Pearson correlation of frequency and mean spend among repeat customers (Gamma-Gamma
    assumes none)."""
    repeat = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
    if len(repeat) < 3:
        return float("nan")
    return float(np.corrcoef(repeat.frequency, repeat.monetary_value)[0, 1])


def _spend_nll(grouped: pd.DataFrame, penalizer: float, gradient: bool = False):
    """Gamma-Gamma's mean negative log-likelihood over log parameters (lifetimes'), or with
    `gradient` its gradient."""
    x = grouped.frequency.to_numpy(float)
    m = grouped.monetary_value.to_numpy(float)
    w = grouped.weight.to_numpy(float)
    if gradient:
        return gamma_gamma_gradient(x, m, w, penalizer)
    return lambda lp: GammaGammaFitter._negative_log_likelihood(lp, x, m, w, penalizer)


def fit_spend_model(
    rfm: pd.DataFrame, max_abs_corr: float = 0.3, max_customers: int = MAX_FIT_CUSTOMERS
) -> FittedModel:
    """Gamma-Gamma on repeat customers with positive spend (a fixed random sample of
    `max_customers` above that); reports the independence check."""
    repeat = rfm[(rfm.frequency > 0) & (rfm.monetary_value > 0)]
    if len(repeat) < MIN_FIT_CUSTOMERS:
        raise FitError(f"gamma_gamma: only {len(repeat)} repeat customers with spend")
    correlation = spend_independence(rfm)
    notes = [f"corr(frequency, monetary_value) = {correlation:.3f}"]
    if len(repeat) > max_customers:
        notes.append(f"fitted on a random sample of {max_customers:,} of {len(repeat):,}")
        repeat = repeat.sample(max_customers, random_state=0)
    grouped = repeat.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    errors = []
    for penalizer in PENALIZERS:
        nll, gradient = _spend_nll(grouped, penalizer), _spend_nll(grouped, penalizer, True)
        optimum = minimise(nll, 3, gradient)
        fitter = GammaGammaFitter(penalizer_coef=penalizer)
        fitter.params_ = pd.Series(np.exp(optimum.log_params), index=["p", "q", "v"])
        ll = -_spend_nll(grouped, 0.0)(optimum.log_params) * float(grouped.weight.sum())
        if not math.isfinite(ll):
            errors.append(f"penalizer {penalizer}: log-likelihood {ll}")
            continue
        params = _params("gamma_gamma", fitter)
        model = FittedModel("gamma_gamma", fitter, params, float(ll), penalizer, len(repeat))
        model.notes = [*notes, *([f"converged only with penalizer {penalizer}"] * bool(penalizer))]
        model.log_cov = log_param_covariance(
            nll, optimum.log_params, float(grouped.weight.sum()), gradient
        )
        if abs(correlation) > max_abs_corr:
            model.poor = True
            model.notes.append(
                f"independence assumption of Gamma-Gamma is doubtful (|corr| > {max_abs_corr})"
            )
        if params["q"] <= 1:
            model.poor = True
            model.notes.append("q <= 1: the population mean spend is undefined")
        _report_search(model, optimum)
        _diagnose(model)
        return model
    raise FitError("gamma_gamma did not converge: " + "; ".join(errors))


def _predictor(fitter: Any) -> tuple[str, np.ndarray]:
    """The model and its parameters (literature order, data time unit) of a lifetimes fitter."""
    name = "pareto_nbd" if isinstance(fitter, ParetoNBDFitter) else "bgnbd"
    return name, fitter.params_.to_numpy(dtype=float)


def p_alive(fitter: Any, rfm: pd.DataFrame) -> pd.Series:
    """P(alive) per customer (vectorised: models/clv_predict.py)."""
    name, params = _predictor(fitter)
    return pd.Series(btyd.p_alive(name, params, Histories.of(rfm)), index=rfm.index)


def purchases_if_alive(fitter: Any, times: list[float], rfm: pd.DataFrame) -> pd.DataFrame:
    """Expected purchases in the next t time units of a customer who is alive now, for each t
    in `times` (columns 0, 1, ...). In both models E[purchases | history] = P(alive) x this,
    and this depends on (frequency, T) only, not on recency: computed once per distinct
    (frequency, T), far fewer than the customers or their (frequency, recency, T) rows."""
    name, params = _predictor(fitter)
    h = Histories.of(rfm)
    return pd.DataFrame(btyd.if_alive(name, params, h, times)[h.inverse], index=rfm.index)


def expected_purchases(fitter: Any, t: float, rfm: pd.DataFrame) -> pd.Series:
    """Expected purchases in the next `t` time units, per customer."""
    name, params = _predictor(fitter)
    h = Histories.of(rfm)
    alive = btyd.p_alive(name, params, h)
    return pd.Series(alive * btyd.if_alive(name, params, h, [t])[h.inverse, 0], index=rfm.index)


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
    alive: pd.Series | None = None,
) -> pd.DataFrame:
    """Per horizon H (months): sum over i <= H of expected purchases in month i / (1 + rate)^i
    (column `m<H>`), from one pass over the months on distinct (frequency, T)."""
    name, params = _predictor(fitter)
    h = Histories.of(rfm)
    step = DAYS_PER_MONTH / time_unit_days
    running = btyd.discounted_if_alive(name, params, h, step, max(horizons), monthly_rate)
    alive = btyd.p_alive(name, params, h) if alive is None else np.asarray(alive, dtype=float)
    return pd.DataFrame(
        {f"m{m}": alive * running[h.inverse, m - 1] for m in horizons}, index=rfm.index
    )


def discounted_purchases(
    fitter: Any, rfm: pd.DataFrame, months: int, time_unit_days: float, monthly_rate: float
) -> pd.Series:
    """Sum over the next `months` months of expected purchases in month i / (1 + rate)^i."""
    return discounted_purchases_by_horizon(fitter, rfm, (months,), time_unit_days, monthly_rate)[
        f"m{months}"
    ]


def expected_order_value(fitter: Any, rfm: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma's expected spend per order, per customer (the population mean for
    customers without repeat purchases)."""
    return btyd.order_value(
        fitter.params_.to_numpy(dtype=float),
        rfm.frequency.to_numpy(dtype=float),
        rfm.monetary_value.to_numpy(dtype=float),
    )


def score_customers(
    rfm: pd.DataFrame,
    purchases: FittedModel,
    spend: FittedModel,
    time_unit_days: float,
    service_cost_per_year: pd.Series,
    assumptions: ClvAssumptions = ClvAssumptions(),
    acquisition_cost: pd.Series | None = None,
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected order value and CLV (12 and 36 months), and a
    90% interval of the 36-month gross CLV under the parameters' estimation error.

    Gross CLV = discounted expected purchases x expected order value (Gamma-Gamma) x margin.
    Net CLV subtracts the expected service cost (last year's cost per year, for as long as the
    customer is alive, discounted) and the acquisition cost where known."""
    name, params = _predictor(purchases.fitter)
    h = Histories.of(rfm)
    out = rfm[["frequency", "recency", "T", "monetary_value"]].rename(columns={"T": "tenure"})
    alive = btyd.p_alive(name, params, h)
    year = btyd.if_alive(name, params, h, [365.0 / time_unit_days])[:, 0]
    out["expected_purchases_365d"] = alive * year[h.inverse]
    out["p_alive"] = alive
    out["expected_avg_order_value"] = expected_order_value(spend.fitter, rfm)
    yearly_service = service_cost_per_year.reindex(rfm.index).fillna(0.0).astype(float)
    acquisition = (
        acquisition_cost.reindex(rfm.index).fillna(0.0).astype(float)
        if acquisition_cost is not None
        else 0.0
    )
    d = assumptions.monthly_discount_rate
    step = DAYS_PER_MONTH / time_unit_days
    running = btyd.discounted_if_alive(name, params, h, step, 36, d)
    for months in (12, 36):
        discounted = alive * running[h.inverse, months - 1]
        gross = discounted * out.expected_avg_order_value * assumptions.margin
        annuity = sum(1.0 / (1.0 + d) ** i for i in range(1, months + 1))
        service = yearly_service / 12.0 * annuity * out.p_alive
        out[f"clv_gross_{months}m"] = gross
        out[f"clv_net_{months}m"] = gross - service - acquisition
    spread = clv_log_spread(rfm, purchases, spend, time_unit_days, d, h)
    out["clv_gross_36m_p05"] = out.clv_gross_36m * np.exp(-spread)
    out["clv_gross_36m_p95"] = out.clv_gross_36m * np.exp(spread)
    out["attrition_risk"] = 1.0 - out.p_alive
    out["purchase_model"] = purchases.name
    return out


Z_90 = 1.6448536269514722  # the 95th percentile of the standard normal
DERIVATIVE_STEP = 1e-4  # in log parameters


def _log_purchases_36m(name: str, unit: float, rate: float, h: Histories):
    """log P(alive) per customer and log of the discounted expected purchases if alive over 36
    months per distinct (frequency, T), on a quarterly grid: enough for the derivatives of
    the interval (a third of the monthly grid's cost)."""
    quarterly = (1.0 + rate) ** 3 - 1.0

    def value(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = btyd.discounted_if_alive(name, params, h, 3 * DAYS_PER_MONTH / unit, 12, quarterly)
        with np.errstate(all="ignore"):
            return np.log(btyd.p_alive(name, params, h)), np.log(total[:, -1])

    return value


def _log_gradient(log_value, log_params: np.ndarray, h: Histories) -> np.ndarray:
    """Forward differences of log_value (per customer, or a (per customer, per distinct
    (frequency, T)) pair of parts) in each log parameter: one row per parameter."""
    step = DERIVATIVE_STEP

    def total(parts) -> np.ndarray:
        if isinstance(parts, tuple):
            per_customer, per_row = parts
            return per_customer + per_row[h.inverse]
        return parts

    base = total(log_value(np.exp(log_params)))
    return np.vstack(
        [
            (total(log_value(np.exp(log_params + shift))) - base) / step
            for shift in step * np.eye(len(log_params))
        ]
    )


def clv_log_spread(
    rfm: pd.DataFrame,
    purchases: FittedModel,
    spend: FittedModel,
    time_unit_days: float,
    monthly_rate: float,
    histories: Histories | None = None,
) -> pd.Series:
    """Half the width of a 90% interval of log(36-month gross CLV) per customer under the
    estimation error of the purchase and spend parameters: the delta method on
    log CLV = log(discounted purchases) + log(order value), one-sided differences in each log
    parameter, the two fits independent. It is the uncertainty of the estimate (narrow with
    many customers), not the spread of the customer's own future purchases. NaN where a
    covariance is unknown (parameters not identified). Vectorised over every customer."""
    if purchases.log_cov is None or spend.log_cov is None:
        return pd.Series(np.nan, index=rfm.index)
    h = histories or Histories.of(rfm)
    name, params = _predictor(purchases.fitter)
    monetary = rfm.monetary_value.to_numpy(dtype=float)

    def log_order_value(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.log(btyd.order_value(p, h.x, monetary))

    variance = np.zeros(len(rfm))
    parts = (
        (purchases, _log_purchases_36m(name, time_unit_days, monthly_rate, h), params),
        (spend, log_order_value, spend.fitter.params_.to_numpy(dtype=float)),
    )
    for model, log_value, values in parts:
        g = _log_gradient(log_value, np.log(values), h)
        variance += np.einsum("ik,ij,jk->k", g, model.log_cov, g)
    return pd.Series(Z_90 * np.sqrt(np.clip(variance, 0, None)), index=rfm.index)


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
        "standard_errors": to_json(model.standard_errors()),
        # what a night that reuses these parameters needs for the CLV interval
        "log_covariance": to_json(model.log_cov.tolist()) if model.log_cov is not None else None,
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
