"""The scores tables: scores per customer and as-of date, one row per fitted model and run."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from ingest.warehouse import drop_primary_keys, transaction
from models.scoring.config import SCORES_TABLE, SUMMARY_TABLE

SCORES_DDL = """
create schema if not exists scores;
create table if not exists scores.customer_scores (
    customer_key bigint not null,
    as_of_date date not null,
    run_id varchar not null,
    frequency double, recency double, tenure double, monetary_value double,
    expected_purchases_365d double, p_alive double, attrition_risk double,
    expected_avg_order_value double,
    clv_gross_12m double, clv_net_12m double, clv_gross_36m double, clv_net_36m double
);
alter table scores.customer_scores add column if not exists purchase_model varchar;
alter table scores.customer_scores add column if not exists clv_gross_36m_p05 double;
alter table scores.customer_scores add column if not exists clv_gross_36m_p95 double;
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
alter table scores.model_runs add column if not exists selected boolean;
alter table scores.model_runs add column if not exists calibration_parameters json;
alter table scores.model_runs add column if not exists standard_errors json;
alter table scores.model_runs add column if not exists log_covariance json;
alter table scores.model_runs add column if not exists refitted boolean;
alter table scores.model_runs add column if not exists refit_reason varchar;
alter table scores.model_runs add column if not exists fitted_run_id varchar;
create table if not exists scores.score_summary (
    as_of_date date not null,
    run_id varchar not null,
    customers_scored bigint not null,
    avg_clv_net_36m double,
    avg_attrition_risk double
);
create table if not exists scores.model_artifacts (
    run_id varchar not null,
    model_name varchar not null,
    format varchar not null,
    sha256 varchar not null,
    artifact blob not null,
    saved_at timestamp not null
);
"""


SUMMARY_SQL = """
select as_of_date, any_value(run_id) as run_id, count(*) as customers_scored,
       avg(clv_net_36m) as avg_clv_net_36m, avg(attrition_risk) as avg_attrition_risk
from {scores} group by as_of_date
"""


def ensure_scores_schema(con: duckdb.DuckDBPyConnection) -> None:
    # One row per customer and as-of date, kept by write_scores (delete the date, insert its
    # unique rows), not by a primary key: its index cost 1M scores 2 s a night and grew with
    # every night's million rows.
    had_summary = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'scores' and table_name = ?",
        [SUMMARY_TABLE],
    ).fetchall()[0][0]
    con.execute(SCORES_DDL)
    drop_primary_keys(con, "scores", [SCORES_TABLE])
    if not had_summary and _has_summary_inputs(con):
        # a warehouse of before the summary: every date it still has scores of
        con.execute(
            "insert into scores.score_summary by name "
            + SUMMARY_SQL.format(scores="scores.customer_scores")
        )


def _has_summary_inputs(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the scores hold what the summary averages (the oldest schemas did not)."""
    columns = {c[0] for c in con.execute(f"describe scores.{SCORES_TABLE}").fetchall()}
    return {"clv_net_36m", "attrition_risk"} <= columns


def write_scores(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    run_id: str,
    scores: pd.DataFrame,
    runs: pd.DataFrame,
    artifacts: list[dict] | None = None,
) -> None:
    """Replace the as-of date's scores and this run's model rows (and fitted model artifacts,
    stored in the warehouse so that they are published and rolled back with it), in one
    transaction."""
    repeated = scores.loc[scores["customer_key"].duplicated(), "customer_key"].head(5).tolist()
    if repeated:
        raise ValueError(f"scores repeat customers {repeated}: one row per customer and date")
    con.register("new_scores", scores)
    con.register("new_runs", runs)
    try:
        with transaction(con):
            con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of])
            # clustered by customer: looking up one customer (the frontline) reads only its row groups
            con.execute(
                "insert into scores.customer_scores by name select * from new_scores order by customer_key"
            )
            con.execute("delete from scores.score_summary where as_of_date = ?", [as_of])
            con.execute(
                "insert into scores.score_summary by name "
                + SUMMARY_SQL.format(scores="new_scores")
            )
            con.execute("delete from scores.model_runs where run_id = ?", [run_id])
            con.execute("insert into scores.model_runs by name select * from new_runs")
            con.execute("delete from scores.model_artifacts where run_id = ?", [run_id])
            for a in artifacts or []:
                con.execute(
                    "insert into scores.model_artifacts values (?, ?, ?, ?, ?, now())",
                    [run_id, a["model_name"], a["format"], a["sha256"], a["artifact"]],
                )
    finally:
        con.unregister("new_scores")
        con.unregister("new_runs")


def purchases_exist(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> bool:
    """Whether any purchase up to `as_of` exists to fit the models on."""
    row = con.execute(
        "select count(*) from core.fct_transactions where amount >= 0 and occurred_on <= ?",
        [as_of],
    ).fetchall()
    return bool(row and row[0][0])


def mark_unavailable(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str, runs: pd.DataFrame
) -> None:
    """No scores for `as_of` (none of an earlier run of the date either) and this run's
    model rows saying why, in one transaction."""
    con.register("new_runs", runs)
    try:
        with transaction(con):
            con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of])
            con.execute("delete from scores.score_summary where as_of_date = ?", [as_of])
            con.execute("delete from scores.model_runs where run_id = ?", [run_id])
            con.execute("delete from scores.model_artifacts where run_id = ?", [run_id])
            con.execute("insert into scores.model_runs by name select * from new_runs")
    finally:
        con.unregister("new_runs")
