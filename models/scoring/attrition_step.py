"""Step 4 of scoring, attrition risk: a scikit-learn classifier validated out of time
(models/attrition.py), falling back to 1 - P(alive) where it cannot be fitted."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb

from models.attrition import NUMERIC, AttritionResult, attrition_model, classifier
from models.clv import FitError, to_json, unit_name
from models.scoring.config import ScoringConfig, ScoringResult

ATTRITION_MODEL = "attrition_gbm"
ATTRITION_BASELINE = "attrition_btyd_baseline"


def fit_attrition(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig, result: ScoringResult
) -> AttritionResult | None:
    """The attrition model validated against the baseline; None (risk = 1 - P(alive)) where
    there is too little history. Where the classifier does not beat the baseline on the
    holdout the run uses the baseline and says so (`result.attrition_fallback`)."""
    try:
        attrition = attrition_model(
            con,
            as_of,
            config.attrition_horizon_days,
            config.time_unit_days,
            config.min_attrition_auc_uplift,
        )
    except FitError as exc:  # the warning check attrition_beats_baseline says so
        result.attrition_fallback = f"attrition risk falls back to 1 - P(alive): {exc}"
        result.warnings.append(result.attrition_fallback)
        return None
    auc = attrition.metrics.get("auc", math.nan)
    baseline_auc = attrition.baseline_metrics.get("auc", math.nan)
    if attrition.risk_source == "baseline":
        attrition.status = "poor fit"
        result.attrition_fallback = (
            f"the attrition classifier (holdout AUC {auc:.3f}) does not beat the BTYD baseline "
            f"1 - P(alive) (AUC {baseline_auc:.3f}): the baseline is used"
        )
        result.warnings.append(result.attrition_fallback)
    elif attrition.status == "ok" and not (math.isfinite(auc) and auc >= config.min_attrition_auc):
        attrition.status = "poor fit"
        result.poor_fits.append(ATTRITION_MODEL)
        result.warnings.append(
            f"attrition model is a poor fit: out-of-time AUC {auc:.3f} "
            f"(threshold {config.min_attrition_auc})"
        )
    elif attrition.status != "ok":
        result.warnings.append("attrition model not validated: " + "; ".join(attrition.notes))
    return attrition


def _row(run_id: str, as_of: dt.date, config: ScoringConfig, name: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "model_name": name,
        "as_of_date": as_of,
        "fitted_at": dt.datetime.now().replace(microsecond=0),
        "time_unit": unit_name(1.0),
        "calibration_end": as_of - dt.timedelta(days=config.attrition_horizon_days),
        "log_likelihood": None,
        "penalizer": None,
        "calibration_parameters": None,
        "standard_errors": None,
    }


def attrition_records(
    attrition: AttritionResult, run_id: str, as_of: dt.date, config: ScoringConfig
) -> list[dict[str, Any]]:
    """The classifier's model_runs row and the baseline's, with the same holdout metrics on
    the same customers and label; `selected` marks the one that scored the run."""
    learner = classifier()
    horizon = config.attrition_horizon_days
    label = f"no purchase and no engagement in the next {horizon} days"
    params = {
        "learner": type(learner).__name__,
        **{
            k: v
            for k, v in learner.get_params().items()
            if k in {"max_iter", "learning_rate", "max_depth", "l2_regularization"}
        },
        "horizon_days": horizon,
        "label": label,
        "features": NUMERIC,
    }
    used_baseline = attrition.risk_source == "baseline"
    gbm = _row(run_id, as_of, config, ATTRITION_MODEL) | {
        "parameters": to_json(params),
        "customers": len(attrition.risk),
        "holdout_metrics": to_json(attrition.metrics),
        "status": attrition.status,
        "notes": "; ".join(attrition.notes) or None,
        "selected": not used_baseline,
    }
    if not attrition.baseline_metrics:
        return [gbm]
    baseline = _row(run_id, as_of, config, ATTRITION_BASELINE) | {
        "parameters": to_json({"score": "1 - P(alive), BG/NBD", "horizon_days": horizon}),
        "customers": len(attrition.risk),
        "holdout_metrics": to_json(attrition.baseline_metrics),
        "status": "ok",
        "notes": f"the baseline the classifier must beat on the same label: {label}",
        "selected": used_baseline,
    }
    return [gbm, baseline]
