"""Refit or reuse: the models are refitted on a schedule, when their holdout error drifts, when
nothing is stored or on a full refresh; any other night reuses the stored fit (parameters and
covariance from scores.model_runs, the attrition classifier from scores.model_artifacts) and
still scores every customer for its as-of date.

The stored fit is the latest refit whose as-of date is not after the run's (nothing after the
as-of date is used). Drift: the stored purchase model's calibration fit predicts the purchases
of the last `holdout_days` before the run's as-of date, partly after the data it was fitted on;
when its aggregate error moves more than `refit_drift_pct` points from the error it had at the
fit, the purchase process has changed and the models are refitted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import skops.io as sio
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from sklearn.ensemble import HistGradientBoostingClassifier

from models.clv import (
    PARAM_NAMES,
    PURCHASE_MODELS,
    FittedModel,
    expected_purchases,
    fitter_names,
    holdout_metrics,
    to_json,
    unit_name,
)
from models.rfm import holdout_actuals, rfm_summary
from models.scoring.config import ScoringConfig

ARTIFACT_FORMAT = "skops"
# The only types beyond skops' defaults a stored attrition classifier may contain: loading
# anything else fails, and the night refits instead.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

LATEST_FIT_SQL = """
select run_id, as_of_date from scores.model_runs
where refitted and selected and as_of_date <= ? and model_name in ('bgnbd', 'pareto_nbd')
order by as_of_date desc, fitted_at desc
limit 1
"""


def dump_classifier(model: HistGradientBoostingClassifier, name: str) -> dict[str, Any]:
    """A fitted classifier as an artifact row (skops: loading it back runs no pickled code)."""
    data = sio.dumps(model)
    return {
        "model_name": name,
        "format": ARTIFACT_FORMAT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "artifact": data,
    }


def flag(value: Any) -> bool:
    """A nullable boolean read back from DuckDB (None, NaN, numpy or Python bool)."""
    return value is not None and not pd.isna(value) and bool(value)


@dataclass
class StoredFit:
    """The model_runs rows (and classifier) of the latest refit up to an as-of date."""

    run_id: str
    as_of: dt.date
    rows: pd.DataFrame  # indexed by model_name
    classifier: HistGradientBoostingClassifier | None = None

    @property
    def selected(self) -> str:
        chosen = self.rows.selected.astype("boolean").fillna(False).to_numpy(dtype=bool)
        purchase = self.rows[self.rows.index.isin(PURCHASE_MODELS) & chosen]
        return str(purchase.index[0])

    def model(self, name: str) -> FittedModel | None:
        """A stored fit as a FittedModel whose lifetimes fitter predicts (None: not stored)."""
        if name not in self.rows.index:
            return None
        row = self.rows.loc[name]
        params = json.loads(row.parameters)
        fitter_class = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}
        fitter = fitter_class.get(name, GammaGammaFitter)()
        index = ["p", "q", "v"] if name == "gamma_gamma" else list(fitter_names(name))
        fitter.params_ = pd.Series([params[k] for k in PARAM_NAMES[name]], index=index)
        model = FittedModel(
            name, fitter, params, row.log_likelihood, row.penalizer, int(row.customers)
        )
        model.log_cov = np.array(json.loads(row.log_covariance)) if row.log_covariance else None
        return model


def latest_fit(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> StoredFit | None:
    found = con.execute(LATEST_FIT_SQL, [as_of]).fetchall()
    if not found:
        return None
    run_id, fit_as_of = found[0]
    rows = con.execute(
        "select * from scores.model_runs where run_id = ? and refitted", [run_id]
    ).df()
    stored = StoredFit(run_id, fit_as_of, rows.set_index("model_name"))
    needed = [stored.selected, "gamma_gamma"]
    if any(n not in stored.rows.index or stored.rows.loc[n].log_covariance is None for n in needed):
        return None  # a fit stored before its covariance was: not enough to score with
    return stored


def load_classifier(con: duckdb.DuckDBPyConnection, stored: StoredFit) -> str | None:
    """Load the stored fit's attrition classifier where it scored its run; the reason it
    cannot be used, or None."""
    rows = stored.rows
    if "attrition_gbm" not in rows.index or not flag(rows.loc["attrition_gbm"].selected):
        return None  # the run scored with 1 - P(alive): nothing to load
    found = con.execute(
        "select format, sha256, artifact from scores.model_artifacts "
        "where run_id = ? and model_name = 'attrition_gbm'",
        [stored.run_id],
    ).fetchall()
    if not found:
        return "the stored attrition classifier is missing"
    fmt, sha256, data = found[0]
    if fmt != ARTIFACT_FORMAT or hashlib.sha256(data).hexdigest() != sha256:
        return "the stored attrition classifier does not match its checksum"
    try:
        stored.classifier = sio.loads(bytes(data), trusted=TRUSTED_TYPES)
    except Exception as exc:  # untrusted types or a skops version that cannot read it
        return f"the stored attrition classifier cannot be loaded: {type(exc).__name__}: {exc}"
    return None


def holdout_drift(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig, stored: StoredFit
) -> dict[str, Any] | None:
    """The stored purchase model's calibration fit on today's holdout window: its aggregate
    error now against its error at the fit (None where either is unknown)."""
    row = stored.rows.loc[stored.selected]
    then = json.loads(row.holdout_metrics or "{}").get("aggregate_error_pct")
    if not row.calibration_parameters or then is None:
        return None
    calibration_model = stored.model(stored.selected)
    params = json.loads(row.calibration_parameters)
    calibration_model.fitter.params_ = pd.Series(
        [params[k] for k in PARAM_NAMES[stored.selected]],
        index=calibration_model.fitter.params_.index,
    )
    end = as_of - dt.timedelta(days=config.holdout_days)
    calibration = rfm_summary(con, end, config.time_unit_days)
    if calibration.empty:
        return None
    actual = holdout_actuals(con, end, as_of).holdout_purchases.astype(float)
    horizon = config.holdout_days / config.time_unit_days
    predicted = expected_purchases(calibration_model.fitter, horizon, calibration)
    now = holdout_metrics(predicted, actual)["aggregate_error_pct"]
    if not math.isfinite(now):
        return None
    return {
        "aggregate_error_pct": now,
        "aggregate_error_pct_at_fit": then,
        "drift_pct_points": abs(now - then),
        "calibration_end": end.isoformat(),
    }


@dataclass
class Decision:
    refit: bool
    reason: str
    stored: StoredFit | None = None
    drift: dict[str, Any] | None = None


def decide(con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig) -> Decision:
    """Refit or reuse tonight, and why."""
    if config.force_refit:
        return Decision(True, "full refresh: every model refitted")
    stored = latest_fit(con, as_of)
    if stored is None:
        return Decision(True, f"no stored fit up to {as_of} to reuse")
    age = (as_of - stored.as_of).days
    every = config.refit_every_days
    if age >= every:
        return Decision(
            True, f"the stored fit of {stored.as_of} is {age} days old (refit every {every})"
        )
    unit = unit_name(config.time_unit_days)
    if stored.rows.loc[stored.selected].time_unit != unit:
        return Decision(True, f"the time unit changed to {unit}")
    unusable = load_classifier(con, stored)
    if unusable:
        return Decision(True, unusable)
    drift = holdout_drift(con, as_of, config, stored)
    tolerance = config.refit_drift_pct
    if drift and drift["drift_pct_points"] > tolerance:
        return Decision(
            True,
            f"holdout purchase error drifted: {drift['aggregate_error_pct']:.1f}% now vs "
            f"{drift['aggregate_error_pct_at_fit']:.1f}% at the fit of {stored.as_of} "
            f"(tolerance {tolerance:g} points)",
            drift=drift,
        )
    error = (
        f"; holdout purchase error {drift['aggregate_error_pct']:.1f}% vs "
        f"{drift['aggregate_error_pct_at_fit']:.1f}% at the fit (tolerance {tolerance:g} points)"
        if drift
        else "; holdout drift not measurable"
    )
    return Decision(
        False,
        f"reused the fit of {stored.as_of} (run {stored.run_id}), {age} days old "
        f"(refit every {every}){error}",
        stored,
        drift,
    )


def reuse_after_failed_refit(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ScoringConfig, why: str
) -> Decision | None:
    """Reuse the stored fit on a night whose refit failed (too little history after
    corrections, no convergence); None where no stored fit can score tonight."""
    stored = latest_fit(con, as_of)
    if stored is None or load_classifier(con, stored):
        return None
    if stored.rows.loc[stored.selected].time_unit != unit_name(config.time_unit_days):
        return None
    reason = f"the models could not be refitted ({why}): reused the fit of {stored.as_of}"
    return Decision(False, f"{reason} (run {stored.run_id})", stored)


def reused_records(decision: Decision, run_id: str, as_of: dt.date) -> list[dict]:
    """This run's model_runs rows: the stored fit's, re-stamped, saying they were reused."""
    assert decision.stored is not None
    records = []
    for name, row in decision.stored.rows.iterrows():
        record = row.to_dict() | {
            "model_name": name,
            "run_id": run_id,
            "as_of_date": as_of,
            "refitted": False,
            "refit_reason": decision.reason,
            "fitted_run_id": decision.stored.run_id,
        }
        if name == decision.stored.selected and decision.drift:
            metrics = json.loads(row.holdout_metrics or "{}")
            record["holdout_metrics"] = to_json(metrics | {"drift_check": decision.drift})
        records.append(record)
    return records
