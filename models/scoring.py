"""The nightly scoring step: validate on a holdout, refit to the as-of date, store the scores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from models.clv import (
    ClvAssumptions,
    FitError,
    fit_purchase_model,
    fit_spend_model,
    holdout_metrics,
    model_run_record,
    score_customers,
)
from models.rfm import holdout_actuals, rfm_summary

SCORES_DDL = """
create schema if not exists scores;
create table if not exists scores.customer_scores (
    customer_key bigint not null,
    as_of_date date not null,
    run_id varchar not null,
    frequency double, recency double, tenure double, monetary_value double,
    expected_purchases_365d double, p_alive double, attrition_risk double,
    expected_avg_order_value double,
    clv_gross_12m double, clv_net_12m double, clv_gross_36m double, clv_net_36m double,
    primary key (customer_key, as_of_date)
);
create table if not exists scores.model_runs (
    run_id varchar not null,
    model_name varchar not null,
    as_of_date date not null,
    fitted_at timestamp not null,
    parameters json,
    time_unit varchar,
    calibration_end date,
    log_likelihood double,
    penalizer double,
    customers bigint,
    holdout_metrics json,
    status varchar not null,
    notes varchar
);
"""

INTERACTIONS_SQL = """
select customer_key, count(*) as interactions_per_year
from core.fct_interactions
where occurred_at > cast($as_of as date) - interval 365 day
  and occurred_at < cast($as_of as date) + interval 1 day
group by customer_key
"""


@dataclass(frozen=True)
class ScoringConfig:
    holdout_days: int = 180
    time_unit_days: float = 1.0
    max_holdout_error_pct: float = 25.0
    assumptions: ClvAssumptions = field(default_factory=ClvAssumptions)


@dataclass
class ScoringResult:
    customers_scored: int
    models: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ensure_scores_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCORES_DDL)


def run_scoring(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    config: ScoringConfig = ScoringConfig(),
) -> ScoringResult:
    """Fit, validate and score every customer with purchases up to `as_of` (idempotent per date)."""
    ensure_scores_schema(con)
    unit = config.time_unit_days
    calibration_end = as_of - dt.timedelta(days=config.holdout_days)
    result = ScoringResult(customers_scored=0)
    records: list[dict] = []

    # 1. Validate: fit on the calibration period, predict the holdout.
    calibration = rfm_summary(con, calibration_end, unit)
    metrics: dict[str, float] = {}
    status = "ok"
    try:
        cal_model = fit_purchase_model(calibration, "bgnbd")
        predicted = cal_model.fitter.conditional_expected_number_of_purchases_up_to_time(
            config.holdout_days / unit, calibration.frequency, calibration.recency, calibration["T"]
        )
        actual = holdout_actuals(con, calibration_end, as_of).holdout_purchases
        metrics = holdout_metrics(pd.Series(predicted, index=calibration.index), actual)
        error = abs(metrics["aggregate_error_pct"])
        if error > config.max_holdout_error_pct:
            status = "poor fit"
            result.warnings.append(
                f"BG/NBD holdout error {error:.1f}% exceeds {config.max_holdout_error_pct}%"
            )
    except FitError as exc:
        status = "not validated"
        result.warnings.append(f"holdout validation skipped: {exc}")

    # 2. Refit on everything up to the as-of date and score.
    rfm = rfm_summary(con, as_of, unit)
    purchases = fit_purchase_model(rfm, "bgnbd")
    spend = fit_spend_model(rfm)
    records.append(
        model_run_record(purchases, run_id, as_of, calibration_end, unit, metrics, status)
    )
    records.append(model_run_record(spend, run_id, as_of, calibration_end, unit, {}, "ok"))
    interactions = con.execute(INTERACTIONS_SQL, {"as_of": as_of}).df()
    per_year = interactions.set_index("customer_key").interactions_per_year.astype(float)
    scores = score_customers(rfm, purchases, spend, unit, per_year, config.assumptions)
    scores = scores.reset_index().rename(columns={"index": "customer_key"})
    scores.insert(1, "as_of_date", as_of)
    scores.insert(2, "run_id", run_id)

    runs = pd.DataFrame.from_records(records)
    con.register("new_scores", scores)
    con.register("new_runs", runs)
    try:
        con.execute("begin transaction")
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of])
        con.execute("insert into scores.customer_scores by name select * from new_scores")
        con.execute("delete from scores.model_runs where run_id = ?", [run_id])
        con.execute("insert into scores.model_runs by name select * from new_runs")
        con.execute("commit")
    except duckdb.Error:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")
        con.unregister("new_runs")
    result.customers_scored = len(scores)
    result.models = records
    return result
