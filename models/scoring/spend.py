"""Step 3 of scoring: Gamma-Gamma for spend, validated on the holdout's spend, refitted on all
data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.clv import (
    FitError,
    FittedModel,
    fit_spend_model,
    model_run_record,
    spend_holdout_metrics,
)
from models.scoring.config import ScoringConfig, ScoringResult
from models.scoring.purchases import PurchaseModel, RunStamp


@dataclass
class SpendModel:
    fitted: FittedModel
    record: dict


def _corr_note(spend: FittedModel) -> float | None:
    for note in spend.notes:
        if note.startswith("corr(frequency, monetary_value) = "):
            value = float(note.rsplit("= ", 1)[1])
            return value if math.isfinite(value) else None
    return None


def _validate(
    spend: FittedModel,
    calibration: pd.DataFrame,
    holdout_spend: pd.Series,
    purchases: PurchaseModel,
    metrics: dict[str, Any],
) -> dict | None:
    """Holdout spend = the chosen model's predicted purchases x Gamma-Gamma's expected order
    value, both fitted on the calibration period; fills `metrics`, returns the calibration
    parameters (None when it could not be validated)."""
    try:
        cal_spend = fit_spend_model(calibration)
    except FitError as exc:
        spend.notes.append(f"not validated: {exc}")
        return None
    monetary = calibration.monetary_value.where(calibration.frequency > 0, 0.0)
    with np.errstate(all="ignore"):
        aov = np.asarray(
            cal_spend.fitter.conditional_expected_average_profit(calibration.frequency, monetary),
            dtype=float,
        )
    predicted_spend = purchases.candidate.predicted * aov
    metrics.update(spend_holdout_metrics(predicted_spend, holdout_spend.astype(float)))
    return cal_spend.params


def fit_spend(
    rfm: pd.DataFrame,
    calibration: pd.DataFrame,
    holdout_spend: pd.Series,
    purchases: PurchaseModel,
    stamp: RunStamp,
    config: ScoringConfig,
    result: ScoringResult,
) -> SpendModel:
    spend = fit_spend_model(rfm)
    metrics: dict[str, Any] = {"corr_frequency_monetary": _corr_note(spend)}
    status = "poor fit" if spend.poor else "ok"
    calibration_params = None
    if purchases.candidate.calibration is not None:
        calibration_params = _validate(spend, calibration, holdout_spend, purchases, metrics)
        error = metrics.get("spend_error_pct", math.nan)
        if math.isfinite(error) and abs(error) > config.max_holdout_error_pct:
            status = "poor fit"
    if status == "poor fit":
        result.poor_fits.append("gamma_gamma")
        reasons = []
        if "spend_error_pct" in metrics:
            reasons.append(f"holdout spend error {metrics['spend_error_pct']:.1f}%")
        result.warnings.append("gamma_gamma is a poor fit: " + "; ".join(reasons + spend.notes))
    record = model_run_record(
        spend,
        stamp.run_id,
        stamp.as_of,
        stamp.calibration_end,
        stamp.unit,
        metrics,
        status,
        calibration_params=calibration_params,
    )
    return SpendModel(spend, record)
