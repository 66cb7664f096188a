"""Attrition risk: a scikit-learn classifier over behaviour the BTYD models ignore.

Label at a cut date c: the customer (with a purchase on or before c) makes no purchase in
(c, c + horizon]. Features use only facts dated on or before c: recency, frequency, tenure,
spend and purchase-day trend (recent window vs the one before: declining spend), channel
drop-off (channels used before vs recently), complaints and their resolution, satisfaction,
plus P(alive) and expected purchases from a BG/NBD fitted at c.

Validation is out of time: trained at cut as_of - 2*horizon (labels up to as_of - horizon),
validated at cut as_of - horizon (labels up to as_of). The scoring model is then trained at
cut as_of - horizon and applied to the features at as_of, so nothing after as_of is used.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from models.clv import FitError, fit_purchase_model
from models.rfm import rfm_summary

FEATURES_SQL = """
with tx as (
    select customer_key, occurred_on as day, amount, coalesce(channel, 'unknown') as channel
    from core.fct_transactions
    where occurred_on <= $cut
),
ix as (
    select customer_key, cast(occurred_at as date) as day, coalesce(channel, 'unknown') as channel,
           coalesce(is_complaint, false) as is_complaint, resolved_at, satisfaction, occurred_at
    from core.fct_interactions
    where occurred_at < cast($cut as date) + interval 1 day
),
activity as (
    select customer_key, day, channel from tx
    union all
    select customer_key, day, channel from ix
),
tx_features as (
    select
        customer_key,
        date_diff('day', min(day), $cut) as tenure_days,
        date_diff('day', max(day) filter (where amount >= 0), $cut) as days_since_purchase,
        count(distinct day) filter (where amount >= 0) as purchase_days,
        count(distinct day) filter (where amount >= 0 and day > $cut - $w) as purchase_days_recent,
        count(distinct day) filter (
            where amount >= 0 and day <= $cut - $w and day > $cut - 2 * $w
        ) as purchase_days_prior,
        coalesce(sum(amount) filter (where amount >= 0 and day > $cut - $w), 0) as spend_recent,
        coalesce(sum(amount) filter (
            where amount >= 0 and day <= $cut - $w and day > $cut - 2 * $w
        ), 0) as spend_prior,
        coalesce(avg(amount) filter (where amount >= 0), 0) as avg_order_value,
        count(*) filter (where amount < 0) as refunds
    from tx
    group by customer_key
),
channel_features as (
    select
        customer_key,
        count(distinct channel) as channels_ever,
        count(distinct channel) filter (where day > $cut - $w) as channels_recent,
        count(distinct channel) filter (
            where day <= $cut - $w and day > $cut - 2 * $w
        ) as channels_prior
    from activity
    group by customer_key
),
ix_features as (
    select
        customer_key,
        count(*) filter (where day > $cut - $w) as interactions_recent,
        count(*) filter (where is_complaint and day > $cut - 365) as complaints_year,
        count(*) filter (
            where is_complaint and (resolved_at is null or resolved_at >= cast($cut as date) + interval 1 day)
        ) as complaints_open,
        avg(date_diff('day', occurred_at, resolved_at)) filter (
            where is_complaint and resolved_at < cast($cut as date) + interval 1 day
        ) as days_to_resolve,
        avg(satisfaction) filter (where day > $cut - 365) as satisfaction_year,
        date_diff('day', max(day), $cut) as days_since_interaction
    from ix
    group by customer_key
)
select
    t.*,
    c.channels_ever, c.channels_recent, c.channels_prior,
    coalesce(i.interactions_recent, 0) as interactions_recent,
    coalesce(i.complaints_year, 0) as complaints_year,
    coalesce(i.complaints_open, 0) as complaints_open,
    i.days_to_resolve,
    i.satisfaction_year,
    i.days_since_interaction
from tx_features as t
left join channel_features as c using (customer_key)
left join ix_features as i using (customer_key)
where t.purchase_days > 0
"""

LABEL_SQL = """
select distinct customer_key
from core.fct_transactions
where amount >= 0 and occurred_on > $cut and occurred_on <= $until
"""

NUMERIC = [
    "tenure_days",
    "days_since_purchase",
    "purchase_days",
    "purchase_days_recent",
    "purchase_days_prior",
    "spend_recent",
    "spend_prior",
    "spend_trend",
    "avg_order_value",
    "refunds",
    "channels_ever",
    "channels_recent",
    "channels_prior",
    "channel_dropoff",
    "interactions_recent",
    "complaints_year",
    "complaints_open",
    "days_to_resolve",
    "satisfaction_year",
    "days_since_interaction",
    "p_alive",
    "expected_purchases",
]


def features(
    con: duckdb.DuckDBPyConnection, cut: dt.date, horizon_days: int, time_unit_days: float = 1.0
) -> pd.DataFrame:
    """Behaviour features per customer with a purchase on or before `cut` (nothing after)."""
    df = con.execute(FEATURES_SQL, {"cut": cut, "w": horizon_days}).df().set_index("customer_key")
    df = df.astype(float)
    df["spend_trend"] = (df.spend_recent - df.spend_prior) / (df.spend_prior + df.spend_recent + 1)
    df["channel_dropoff"] = df.channels_prior - df.channels_recent
    rfm = rfm_summary(con, cut, time_unit_days)
    try:
        model = fit_purchase_model(rfm, "bgnbd")
        with np.errstate(all="ignore"):
            fitter = model.fitter
            df["p_alive"] = pd.Series(
                np.asarray(
                    fitter.conditional_probability_alive(rfm.frequency, rfm.recency, rfm["T"]),
                    dtype=float,
                ),
                index=rfm.index,
            )
            df["expected_purchases"] = pd.Series(
                np.asarray(
                    fitter.conditional_expected_number_of_purchases_up_to_time(
                        horizon_days / time_unit_days, rfm.frequency, rfm.recency, rfm["T"]
                    ),
                    dtype=float,
                ),
                index=rfm.index,
            )
    except FitError:
        df["p_alive"] = np.nan
        df["expected_purchases"] = np.nan
    df = df[NUMERIC].sort_index()
    # A feature with no value at all (e.g. no interactions landed yet) is a constant, not missing.
    empty = [c for c in NUMERIC if df[c].isna().all()]
    df[empty] = 0.0
    return df


def labels(
    con: duckdb.DuckDBPyConnection, cut: dt.date, horizon_days: int, index: pd.Index
) -> pd.Series:
    """1 = no purchase in (cut, cut + horizon], for the customers in `index`."""
    until = cut + dt.timedelta(days=horizon_days)
    buyers = set(con.execute(LABEL_SQL, {"cut": cut, "until": until}).df().customer_key)
    return pd.Series([0 if k in buyers else 1 for k in index], index=index, dtype=int)


def classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, max_depth=3, l2_regularization=1.0, random_state=0
    )


# Below this many customers one thread fits in a second or two, while OpenMP threads waiting on
# each other on a busy 2-core machine made the same fit take a minute (measured: 1.7 s vs 15 s).
SINGLE_THREAD_BELOW = 100_000


def fit_classifier(x: pd.DataFrame, y: pd.Series) -> HistGradientBoostingClassifier:
    """The classifier fitted on (x, y); single-threaded on small data (SINGLE_THREAD_BELOW)."""
    with threadpool_limits(limits=1 if len(x) < SINGLE_THREAD_BELOW else None, user_api="openmp"):
        return classifier().fit(x, y)


def predict_risk(model: HistGradientBoostingClassifier, x: pd.DataFrame) -> np.ndarray:
    """P(attrition) per row of x, with the same thread rule as fit_classifier."""
    with threadpool_limits(limits=1 if len(x) < SINGLE_THREAD_BELOW else None, user_api="openmp"):
        return model.predict_proba(x)[:, 1]


def lift_at(score: np.ndarray, label: np.ndarray, share: float = 0.1) -> float:
    """Attrition rate among the top `share` by score, over the overall rate."""
    base = label.mean()
    if base == 0 or len(score) == 0:
        return math.nan
    top = max(1, math.ceil(len(score) * share))
    order = np.argsort(-score, kind="stable")[:top]
    return float(label[order].mean() / base)


def calibration_table(score: np.ndarray, label: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted vs observed attrition per score decile."""
    frame = pd.DataFrame({"score": score, "label": label})
    frame["bin"] = pd.qcut(frame.score.rank(method="first"), q=min(bins, len(frame)), labels=False)
    table = frame.groupby("bin").agg(
        customers=("label", "size"), predicted=("score", "mean"), observed=("label", "mean")
    )
    return [
        {
            "decile": int(b) + 1,
            "customers": int(r.customers),
            "predicted": float(r.predicted),
            "observed": float(r.observed),
        }
        for b, r in table.iterrows()
    ]


def classification_metrics(score: np.ndarray, label: np.ndarray) -> dict[str, Any]:
    two_classes = len(np.unique(label)) == 2
    return {
        "auc": float(roc_auc_score(label, score)) if two_classes else math.nan,
        "top_decile_lift": lift_at(score, label),
        "brier": float(brier_score_loss(label, np.clip(score, 0, 1))),
        "base_rate": float(label.mean()),
        "customers": float(len(label)),
    }


@dataclass
class AttritionResult:
    risk: pd.Series  # P(no purchase in the next horizon), per customer at as_of
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    notes: list[str] = field(default_factory=list)


MIN_TRAIN = 50


def _usable(y: pd.Series) -> bool:
    return len(y) >= MIN_TRAIN and y.nunique() == 2 and y.value_counts().min() >= 5


def attrition_model(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int = 180,
    time_unit_days: float = 1.0,
    features_at_as_of: pd.DataFrame | None = None,
) -> AttritionResult:
    """Train at as_of - 2h, validate at as_of - h, retrain at as_of - h and score at as_of.

    Raises FitError when there is too little history to train at as_of - h."""
    val_cut = as_of - dt.timedelta(days=horizon_days)
    train_cut = val_cut - dt.timedelta(days=horizon_days)
    x_val = features(con, val_cut, horizon_days, time_unit_days)
    y_val = labels(con, val_cut, horizon_days, x_val.index)
    if not _usable(y_val):
        raise FitError(
            f"attrition: too little history before {val_cut} ({len(y_val)} customers, "
            f"{int(y_val.sum()) if len(y_val) else 0} attrited)"
        )
    x_now = (
        features_at_as_of
        if features_at_as_of is not None
        else features(con, as_of, horizon_days, time_unit_days)
    )
    result = AttritionResult(risk=pd.Series(dtype=float))
    x_train = features(con, train_cut, horizon_days, time_unit_days)
    y_train = labels(con, train_cut, horizon_days, x_train.index)
    if _usable(y_train):
        model = fit_classifier(x_train, y_train)
        score = predict_risk(model, x_val)
        metrics = classification_metrics(score, y_val.to_numpy())
        baseline = 1.0 - x_val.p_alive.fillna(x_val.p_alive.mean()).to_numpy()
        metrics["auc_btyd_p_alive"] = classification_metrics(baseline, y_val.to_numpy())["auc"]
        metrics["calibration"] = calibration_table(score, y_val.to_numpy())
        metrics["train_cut"] = train_cut.isoformat()
        metrics["validation_cut"] = val_cut.isoformat()
        metrics["horizon_days"] = horizon_days
        metrics["train_customers"] = float(len(y_train))
        result.metrics = metrics
    else:
        result.status = "not validated"
        result.notes.append(
            f"too little history to validate out of time (train cut {train_cut}: "
            f"{len(y_train)} customers)"
        )
    final = fit_classifier(x_val, y_val)
    result.risk = pd.Series(predict_risk(final, x_now), index=x_now.index)
    return result
