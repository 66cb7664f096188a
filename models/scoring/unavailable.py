"""Scores unavailable: a night with too little history to fit a model stores why, not scores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from models.clv import PURCHASE_MODELS
from models.scoring.attrition_step import ATTRITION_MODEL
from models.scoring.config import ScoringResult
from models.scoring.store import mark_unavailable

UNAVAILABLE = "unavailable"
CLV_MODELS = (*PURCHASE_MODELS, "gamma_gamma")


def unavailable_record(run_id: str, as_of: dt.date, name: str, reason: str) -> dict[str, Any]:
    """The model_runs row of a model that could not be fitted tonight: never a stored fit a
    later night reuses (not selected, not refitted)."""
    empty = dict.fromkeys(("parameters", "standard_errors", "log_covariance", "time_unit"))
    empty |= dict.fromkeys(("calibration_end", "log_likelihood", "penalizer", "customers"))
    return empty | {
        "run_id": run_id,
        "model_name": name,
        "as_of_date": as_of,
        "fitted_at": dt.datetime.now().replace(microsecond=0),
        "holdout_metrics": None,
        "calibration_parameters": None,
        "status": UNAVAILABLE,
        "notes": reason,
        "selected": False,
        "refitted": None,
    }


def attrition_unavailable(run_id: str, as_of: dt.date, reason: str) -> dict[str, Any]:
    return unavailable_record(run_id, as_of, ATTRITION_MODEL, reason)


def scores_unavailable(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str, reason: str, result: ScoringResult
) -> ScoringResult:
    """No scores for `as_of`, every model's row saying why; the result carries the reason for
    the warning check scores_available."""
    records = [unavailable_record(run_id, as_of, n, reason) for n in (*CLV_MODELS, ATTRITION_MODEL)]
    for record in records:
        record["refit_reason"] = result.refit_reason or None
    mark_unavailable(con, as_of, run_id, pd.DataFrame.from_records(records))
    result.unavailable = reason
    result.customers_scored = 0
    result.models = records
    result.selected_model = None
    result.poor_fits = []
    result.warnings = [f"scores unavailable as of {as_of}: {reason}"]
    return result
