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


def fit_attrition(
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


def attrition_record(
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
