"""Steps 1 and 2 of scoring: validate the purchase models on the holdout, choose one, refit
every purchase model on all data up to the as-of date."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from models.clv import (
    PURCHASE_MODELS,
    FitError,
    FittedModel,
    expected_purchases,
    fit_purchase_model,
    holdout_metrics,
    model_run_record,
)
from models.scoring.config import ScoringConfig, ScoringResult


@dataclass(frozen=True)
class RunStamp:
    """What every model row of a run is stamped with."""

    run_id: str
    as_of: dt.date
    calibration_end: dt.date
    unit: float


@dataclass
class Candidate:
    calibration: FittedModel | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    predicted: pd.Series | None = None


@dataclass
class PurchaseModel:
    """The chosen purchase model, refitted on all data, and its holdout validation."""

    name: str
    fitted: FittedModel
    candidate: Candidate
    records: list[dict]


def validate(
    calibration: pd.DataFrame, actual: pd.Series, config: ScoringConfig
) -> dict[str, Candidate]:
    """Fit every purchase model on the calibration period and score its holdout prediction."""
    out: dict[str, Candidate] = {}
    horizon = config.holdout_days / config.time_unit_days
    for name in PURCHASE_MODELS:
        cand = Candidate()
        try:
            unidentified(name, out["bgnbd"].calibration if "bgnbd" in out else None)
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


def unidentified(name: str, bgnbd: FittedModel | None) -> None:
    """Pareto/NBD is not fitted where the BG/NBD fit on the same data is degenerate: both
    share the gamma-Poisson purchase part, and data that give BG/NBD no heterogeneity or
    dropout to estimate (e.g. purchases at random) give Pareto/NBD none either, while its
    hypergeometric likelihood costs seconds to search. Raises FitError to say so."""
    if name == "pareto_nbd" and bgnbd is not None and bgnbd.poor:
        raise FitError("pareto_nbd not fitted: not identified where BG/NBD is degenerate")


def choose(candidates: dict[str, Candidate]) -> str | None:
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


def _refit_all(
    rfm: pd.DataFrame, candidates: dict[str, Candidate], result: ScoringResult
) -> dict[str, FittedModel]:
    finals: dict[str, FittedModel] = {}
    for name in PURCHASE_MODELS:
        try:
            unidentified(name, finals.get("bgnbd"))
            finals[name] = fit_purchase_model(rfm, name)
        except FitError as exc:
            candidates[name].status = "failed"
            candidates[name].error = str(exc)
            result.warnings.append(f"{name} could not be fitted: {exc}")
    if not finals:
        raise FitError("no purchase model could be fitted: " + "; ".join(result.warnings))
    return finals


def _fallback(chosen: str | None, finals: dict[str, FittedModel], result: ScoringResult) -> str:
    """The chosen model if it refitted, else the first that did (with a warning)."""
    if chosen in finals:
        return chosen
    fallback = next(n for n in PURCHASE_MODELS if n in finals)
    if chosen is None:
        result.warnings.append(f"holdout validation impossible; using {fallback} unvalidated")
    else:
        result.warnings.append(f"{chosen} chosen on the holdout failed to refit; using {fallback}")
    return fallback


def _record(
    name: str,
    model: FittedModel,
    cand: Candidate,
    chosen: str,
    selection: dict,
    stamp: RunStamp,
    config: ScoringConfig,
    result: ScoringResult,
) -> dict:
    """The model_runs row of one refitted purchase model; warns when the chosen one is poor."""
    model.notes = [*model.notes, *([cand.error] if cand.error else [])]
    if cand.calibration and cand.calibration.poor:
        model.notes += [f"calibration fit: {n}" for n in cand.calibration.notes]
    if model.poor and cand.status == "ok":
        cand.status = "poor fit"
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
    return model_run_record(
        model,
        stamp.run_id,
        stamp.as_of,
        stamp.calibration_end,
        stamp.unit,
        {**cand.metrics, "selection": selection},
        cand.status,
        selected=name == chosen,
        calibration_params=cand.calibration.params if cand.calibration else None,
    )


def choose_and_refit(
    calibration: pd.DataFrame,
    actual: pd.Series,
    rfm: pd.DataFrame,
    stamp: RunStamp,
    config: ScoringConfig,
    result: ScoringResult,
) -> PurchaseModel:
    """Validate on the holdout, choose, refit every purchase model on all data; the chosen
    one with the model_runs rows of all."""
    candidates = validate(calibration, actual, config)
    chosen = choose(candidates)
    selection = {
        "criterion": "lowest holdout MAE per customer among fits that are not poor",
        **{n: (c.metrics.get("mae") if c.metrics else None) for n, c in candidates.items()},
    }
    finals = _refit_all(rfm, candidates, result)
    chosen = _fallback(chosen, finals, result)
    result.selected_model = chosen
    records = [
        _record(name, finals[name], cand, chosen, selection, stamp, config, result)
        for name, cand in candidates.items()
        if name in finals
    ]
    return PurchaseModel(chosen, finals[chosen], candidates[chosen], records)
