"""Attrition risk: a scikit-learn classifier over what the BTYD models ignore, beside them.

Label at a cut date c (the business's meaning of attrition): the customer, who bought on or
before c, neither buys nor engages (any interaction the customer starts: a call, a ticket, an
app event; outbound marketing does not count) in (c, c + horizon]. The horizon is declared in
`ScoringConfig.attrition_horizon_days` and stored with every run.

Features use only facts dated on or before c: recency, frequency, tenure, spend and
purchase-day trends (declining spend), engagement (days since the last one, whether the
customer engaged after the last purchase: in a buy-till-you-die world a sign of life the
purchase record cannot show), channel drop-off, complaints and their resolution, satisfaction,
the household (members and their last activity: households often leave together), and the
BTYD outputs themselves (P(alive), expected purchases and P(no purchase) over the horizon
from a BG/NBD fitted at c).

Out of time: trained on cuts whose label windows end by the validation cut (as_of - 2h and
TRAINING_CUTS - 1 earlier months, stacked), validated at as_of - h against the label up to
as_of, beside the BTYD baseline 1 - P(alive) on the same customers and label. The scoring
model is then trained on cuts up to as_of - h and applied at as_of, so nothing after as_of is
used.
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

from models.clv import FitError, FittedModel, fit_purchase_model
from models.rfm import rfm_summary

# Interactions the customer starts; outbound marketing (e-mail campaigns and the like) is no
# sign of life. The same rule decides the service cost in models/scoring/costs.py.
ENGAGEMENT = """not (coalesce(channel, '') ilike '%email%'
    or regexp_matches(lower(coalesce(interaction_type, '')), 'campaign|marketing|newsletter'))"""

FEATURES_SQL = f"""
with tx as (
    select customer_key, occurred_on as day, amount, coalesce(channel, 'unknown') as channel
    from core.fct_transactions
    where occurred_on <= $cut
),
ix as (
    select customer_key, cast(occurred_at as date) as day, coalesce(channel, 'unknown') as channel,
           coalesce(is_complaint, false) as is_complaint, resolved_at, satisfaction, occurred_at,
           {ENGAGEMENT} as is_engagement
    from core.fct_interactions
    where occurred_at < cast($cut as date) + interval 1 day
),
activity as (
    select customer_key, day, channel from tx where amount >= 0
    union all
    select customer_key, day, channel from ix where is_engagement
),
-- Days and channels are counted from one row per customer and day (and channel), not with
-- count(distinct ...): DuckDB hashes each distinct aggregate apart, and at 1M customers the
-- five of them took 4 of this query's 15 s of CPU.
purchase_days as (
    select
        customer_key,
        count(*) as purchase_days,
        count(*) filter (where day > $cut - $w) as purchase_days_recent,
        count(*) filter (where day <= $cut - $w and day > $cut - 2 * $w) as purchase_days_prior
    from (select distinct customer_key, day from tx where amount >= 0)
    group by customer_key
),
tx_features as (
    select
        customer_key,
        date_diff('day', min(day), $cut) as tenure_days,
        date_diff('day', max(day) filter (where amount >= 0), $cut) as days_since_purchase,
        coalesce(sum(amount) filter (where amount >= 0 and day > $cut - $w), 0) as spend_recent,
        coalesce(sum(amount) filter (
            where amount >= 0 and day <= $cut - $w and day > $cut - 2 * $w
        ), 0) as spend_prior,
        coalesce(avg(amount) filter (where amount >= 0), 0) as avg_order_value,
        count(*) filter (where amount < 0) as refunds
    from tx
    group by customer_key
),
channel_days as (
    select
        customer_key,
        channel,
        max(day) as last_day,
        bool_or(day <= $cut - $w and day > $cut - 2 * $w) as in_prior
    from activity
    group by customer_key, channel
),
channel_features as (
    select
        customer_key,
        count(*) as channels_ever,
        count(*) filter (where last_day > $cut - $w) as channels_recent,
        count(*) filter (where in_prior) as channels_prior,
        date_diff('day', max(last_day), $cut) as days_since_activity
    from channel_days
    group by customer_key
),
ix_features as (
    select
        customer_key,
        count(*) filter (where is_engagement and day > $cut - $w) as engagements_recent,
        count(*) filter (
            where is_engagement and day <= $cut - $w and day > $cut - 2 * $w
        ) as engagements_prior,
        date_diff('day', max(day) filter (where is_engagement), $cut) as days_since_engagement,
        count(*) filter (where is_complaint and day > $cut - 365) as complaints_year,
        count(*) filter (
            where is_complaint and (resolved_at is null or resolved_at >= cast($cut as date) + interval 1 day)
        ) as complaints_open,
        avg(date_diff('day', occurred_at, resolved_at)) filter (
            where is_complaint and resolved_at < cast($cut as date) + interval 1 day
        ) as days_to_resolve,
        date_diff('day', max(day) filter (where is_complaint), $cut) as days_since_complaint,
        min(satisfaction) filter (where is_complaint and day > $cut - 365) as worst_complaint_satisfaction,
        avg(satisfaction) filter (where day > $cut - 365) as satisfaction_year
    from ix
    group by customer_key
)
select
    t.customer_key, t.tenure_days, t.days_since_purchase,
    p.purchase_days, p.purchase_days_recent, p.purchase_days_prior,
    t.spend_recent, t.spend_prior, t.avg_order_value, t.refunds,
    c.channels_ever, c.channels_recent, c.channels_prior, c.days_since_activity,
    coalesce(i.engagements_recent, 0) as engagements_recent,
    coalesce(i.engagements_prior, 0) as engagements_prior,
    i.days_since_engagement,
    coalesce(i.complaints_year, 0) as complaints_year,
    coalesce(i.complaints_open, 0) as complaints_open,
    i.days_to_resolve,
    i.days_since_complaint,
    i.worst_complaint_satisfaction,
    i.satisfaction_year
from tx_features as t
inner join purchase_days as p using (customer_key)
left join channel_features as c using (customer_key)
left join ix_features as i using (customer_key)
"""

# Households leave together (older couples in the demo, a family moving away in life): the
# other members' last activity. core.customer_household comes from identity resolution, which
# runs before the dbt core that scoring reads.
HOUSEHOLD_SQL = """
with last_activity as (
    select customer_key, max(day) as last_day from (
        select customer_key, occurred_on as day from core.fct_transactions
        where amount >= 0 and occurred_on <= $cut
        union all
        select customer_key, cast(occurred_at as date) from core.fct_interactions
        where occurred_at < cast($cut as date) + interval 1 day
    ) group by customer_key
),
members as (
    select h.customer_key, h.household_key, a.last_day
    from core.customer_household as h
    left join last_activity as a using (customer_key)
)
select
    m.customer_key,
    count(o.customer_key) as household_others,
    date_diff('day', max(o.last_day), $cut) as household_days_since_activity
from members as m
left join members as o on o.household_key = m.household_key and o.customer_key != m.customer_key
group by m.customer_key
"""

LABEL_SQL = f"""
select customer_key from core.fct_transactions
where amount >= 0 and occurred_on > $cut and occurred_on <= $until
union
select customer_key from core.fct_interactions
where {ENGAGEMENT}
  and occurred_at >= cast($cut as date) + interval 1 day
  and occurred_at < cast($until as date) + interval 1 day
"""

BTYD = ["p_alive", "expected_purchases", "p_no_purchase"]
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
    "days_since_activity",
    "engagements_recent",
    "engagements_prior",
    "days_since_engagement",
    "engaged_since_purchase",
    "complaints_year",
    "complaints_open",
    "days_to_resolve",
    "days_since_complaint",
    "worst_complaint_satisfaction",
    "satisfaction_year",
    "household_others",
    "household_days_since_activity",
    *BTYD,
]


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def _household(con: duckdb.DuckDBPyConnection, cut: dt.date) -> pd.DataFrame:
    columns = ["household_others", "household_days_since_activity"]
    if not _has_table(con, "core", "customer_household"):
        return pd.DataFrame(columns=columns, dtype=float)
    return con.execute(HOUSEHOLD_SQL, {"cut": cut}).df().set_index("customer_key")[columns]


def btyd_outputs(
    con: duckdb.DuckDBPyConnection,
    cut: dt.date,
    horizon_days: int,
    time_unit_days: float = 1.0,
    bgnbd: FittedModel | None = None,
    rfm: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """P(alive), expected purchases and P(no purchase) over the horizon from a BG/NBD fitted
    at `cut`, or from the stored `bgnbd` given (NaN where it cannot be fitted); `rfm` is
    rfm_summary at `cut` where the caller has it."""
    rfm = rfm_summary(con, cut, time_unit_days) if rfm is None else rfm
    out = pd.DataFrame(index=rfm.index, columns=BTYD, dtype=float)
    try:
        model = bgnbd or fit_purchase_model(rfm, "bgnbd")
    except FitError:
        return out
    t = horizon_days / time_unit_days
    out["p_alive"] = model.p_alive(rfm)
    out["expected_purchases"] = model.expected_purchases(t, rfm)
    out["p_no_purchase"] = model.p_no_purchase(t, rfm)
    return out


def features(
    con: duckdb.DuckDBPyConnection,
    cut: dt.date,
    horizon_days: int,
    time_unit_days: float = 1.0,
    bgnbd: FittedModel | None = None,
    rfm: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Behaviour features per customer with a purchase on or before `cut` (nothing after);
    the BTYD features from `bgnbd` where given (a stored fit), else from a fit at `cut`."""
    df = con.execute(FEATURES_SQL, {"cut": cut, "w": horizon_days}).df().set_index("customer_key")
    df = df.astype(float)
    df["spend_trend"] = (df.spend_recent - df.spend_prior) / (df.spend_prior + df.spend_recent + 1)
    df["channel_dropoff"] = df.channels_prior - df.channels_recent
    df["engaged_since_purchase"] = (df.days_since_engagement < df.days_since_purchase).astype(float)
    btyd = btyd_outputs(con, cut, horizon_days, time_unit_days, bgnbd, rfm)
    df = df.join(_household(con, cut)).join(btyd)
    df = df[NUMERIC].astype(float).sort_index()
    # A feature with no value at all (e.g. no interactions landed yet) is a constant, not missing.
    empty = [c for c in NUMERIC if df[c].isna().all()]
    df[empty] = 0.0
    return df


def labels(
    con: duckdb.DuckDBPyConnection, cut: dt.date, horizon_days: int, index: pd.Index
) -> pd.Series:
    """1 = no purchase and no engagement in (cut, cut + horizon], for the customers in `index`."""
    until = cut + dt.timedelta(days=horizon_days)
    active = set(con.execute(LABEL_SQL, {"cut": cut, "until": until}).df().customer_key)
    return pd.Series([0 if k in active else 1 for k in index], index=index, dtype=int)


def classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_depth=4, l2_regularization=1.0, random_state=0
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


def max_calibration_gap(table: list[dict]) -> float:
    """The largest |predicted - observed| over the calibration table's deciles."""
    return max((abs(r["predicted"] - r["observed"]) for r in table), default=math.nan)


def classification_metrics(score: np.ndarray, label: np.ndarray) -> dict[str, Any]:
    """AUC, top-decile lift, Brier score, the calibration table and its largest gap."""
    two_classes = len(np.unique(label)) == 2
    table = calibration_table(score, label)
    return {
        "auc": float(roc_auc_score(label, score)) if two_classes else math.nan,
        "top_decile_lift": lift_at(score, label),
        "brier": float(brier_score_loss(label, np.clip(score, 0, 1))),
        "base_rate": float(label.mean()),
        "customers": float(len(label)),
        "calibration": table,
        "max_calibration_gap": max_calibration_gap(table),
    }


def baseline_risk(x: pd.DataFrame) -> np.ndarray:
    """The BTYD baseline, 1 - P(alive) (the mean where BG/NBD could not be fitted)."""
    p_alive = x.p_alive.fillna(x.p_alive.mean()).fillna(1.0)
    return 1.0 - p_alive.to_numpy()


@dataclass
class AttritionResult:
    risk: pd.Series  # P(no purchase and no engagement in the next horizon), per customer
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    baseline_metrics: dict[str, Any] = field(default_factory=dict)
    beats_baseline: bool | None = None  # None: not validated
    risk_source: str = "classifier"  # or "baseline": 1 - P(alive) where the classifier lost
    fitted: HistGradientBoostingClassifier | None = None  # the classifier that scored the run


MIN_TRAIN = 50
# Label windows stacked for training: this many cuts, a month apart (more customers, and a
# model that does not learn one month's quirks).
TRAINING_CUTS = 3
CUT_STEP_DAYS = 30
# The classifier must beat the baseline's AUC by this much on the holdout to be used.
MIN_AUC_UPLIFT = 0.0


def _usable(y: pd.Series) -> bool:
    return len(y) >= MIN_TRAIN and y.nunique() == 2 and y.value_counts().min() >= 5


class Examples:
    """Features and labels per cut, each computed once (a cut serves training and validation)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, horizon_days: int, time_unit_days: float):
        self.con, self.horizon_days, self.unit = con, horizon_days, time_unit_days
        self._at: dict[dt.date, tuple[pd.DataFrame, pd.Series]] = {}

    def at(self, cut: dt.date) -> tuple[pd.DataFrame, pd.Series]:
        if cut not in self._at:
            x = features(self.con, cut, self.horizon_days, self.unit)
            self._at[cut] = (x, labels(self.con, cut, self.horizon_days, x.index))
        return self._at[cut]


def training_set(examples: Examples, cuts: list[dt.date]) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels at each cut, stacked (cuts without any customer are left out)."""
    xs, ys = [], []
    for cut in cuts:
        x, y = examples.at(cut)
        if len(x):
            xs.append(x.reset_index(drop=True))
            ys.append(y.reset_index(drop=True))
    if not xs:
        return pd.DataFrame(columns=NUMERIC, dtype=float), pd.Series(dtype=int)
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True)


def cuts_before(last_cut: dt.date, count: int = TRAINING_CUTS) -> list[dt.date]:
    """`count` cuts a month apart, ending at `last_cut`."""
    return [last_cut - dt.timedelta(days=CUT_STEP_DAYS * k) for k in range(count)]


def validate(
    x_train: pd.DataFrame, y_train: pd.Series, x_val: pd.DataFrame, y_val: pd.Series
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Holdout metrics of the classifier trained on (x_train, y_train) and of the baseline."""
    score = predict_risk(fit_classifier(x_train, y_train), x_val)
    label = y_val.to_numpy()
    metrics = classification_metrics(score, label)
    baseline = classification_metrics(baseline_risk(x_val), label)
    metrics["auc_uplift_over_baseline"] = metrics["auc"] - baseline["auc"]
    metrics["train_customers"] = float(len(y_train))
    return metrics, baseline


def attrition_model(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int = 180,
    time_unit_days: float = 1.0,
    min_auc_uplift: float = MIN_AUC_UPLIFT,
) -> AttritionResult:
    """Validate out of time against the baseline, then score at as_of with the classifier if
    its holdout AUC beats the baseline's by more than `min_auc_uplift`, else with the baseline.

    Raises FitError when there is too little history to train at as_of - h."""
    val_cut = as_of - dt.timedelta(days=horizon_days)
    examples = Examples(con, horizon_days, time_unit_days)
    x_val, y_val = examples.at(val_cut)
    if not _usable(y_val):
        raise FitError(
            f"attrition: too little history before {val_cut} ({len(y_val)} customers, "
            f"{int(y_val.sum()) if len(y_val) else 0} attrited)"
        )
    result = AttritionResult(risk=pd.Series(dtype=float))
    train_cuts = cuts_before(val_cut - dt.timedelta(days=horizon_days))
    x_train, y_train = training_set(examples, train_cuts)
    if _usable(y_train):
        result.metrics, result.baseline_metrics = validate(x_train, y_train, x_val, y_val)
        uplift = result.metrics["auc_uplift_over_baseline"]
        result.beats_baseline = bool(math.isfinite(uplift) and uplift > min_auc_uplift)
    else:
        result.status = "not validated"
        result.notes.append(
            f"too little history to validate out of time (train cuts {train_cuts[-1]} to "
            f"{train_cuts[0]}: {len(y_train)} customers)"
        )
    result.metrics |= {
        "train_cuts": [c.isoformat() for c in train_cuts],
        "validation_cut": val_cut.isoformat(),
        "horizon_days": horizon_days,
    }
    x_now = features(con, as_of, horizon_days, time_unit_days)
    if result.beats_baseline is False:
        result.risk_source = "baseline"
        result.risk = pd.Series(baseline_risk(x_now), index=x_now.index)
        return result
    x_fit, y_fit = training_set(examples, cuts_before(val_cut))
    result.fitted = fit_classifier(x_fit, y_fit)
    result.risk = pd.Series(predict_risk(result.fitted, x_now), index=x_now.index)
    return result


def stored_risk(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int,
    time_unit_days: float,
    fitted: HistGradientBoostingClassifier | None,
    bgnbd: FittedModel | None,
    rfm: pd.DataFrame | None = None,
) -> pd.Series:
    """Attrition risk at `as_of` from a stored classifier (None: the baseline 1 - P(alive)),
    its BTYD features from the stored BG/NBD: nothing is fitted. `rfm`: rfm_summary at
    `as_of`, where the caller has it (at 1M customers about a second to compute again)."""
    x_now = features(con, as_of, horizon_days, time_unit_days, bgnbd, rfm)
    risk = baseline_risk(x_now) if fitted is None else predict_risk(fitted, x_now)
    return pd.Series(risk, index=x_now.index)
