"""The warehouse's side of the run report: quarantine reasons, KPI history, segments, model
validation and row counts, read from the run's warehouse file (read-only)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ingest.warehouse import connection, table_row_counts
from quality.run_history import PUBLICATIONS, ROW_COUNT_HISTORY, previous_row_counts

KPI_COLUMNS = {
    "customers": "Customers known",
    "active_customers": "Active customers",
    "revenue_30d": "Revenue, trailing 30 days (reporting currency)",
    "attrition_rate_30d": "30-day attrition rate",
    "avg_clv_net_36m": "Average net CLV, 36 months (scored days)",
}


@dataclass
class WarehouseFacts:
    """Everything the report shows about the warehouse a run left behind."""

    path: Path
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    kpis: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    movements: pd.DataFrame = field(default_factory=pd.DataFrame)
    models: list[dict[str, Any]] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    previous_counts: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    rows += con.execute("select schema_name, view_name from duckdb_views()").fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


# Reasons and files, not the rejected records: those hold personal data, and the report is read
# by more people than the warehouse (the records stay in quarantine.rejected_rows).
QUARANTINE_SQL = """
with batches as (
    select batch_id from meta.load_batches where loaded_at >= $since
)
select source_system, entity, 'row rejected' as what, '' as column_name, reason,
       count(*) as n, count(distinct file_path) as files, min(file_path) as first_file
from quarantine.rejected_rows where batch_id in (select batch_id from batches)
group by all
union all
select source_system, entity, 'value set to NULL', column_name, reason,
       count(*), count(distinct file_path), min(file_path)
from quarantine.rejected_values where batch_id in (select batch_id from batches)
group by all
order by n desc, source_system, entity
"""

# Daily revenue is too spiky to read: a trailing 30-day sum shows its trend.
KPI_SQL = """
select kpi_date, customers, active_customers,
       sum(revenue) over (order by kpi_date rows between 29 preceding and current row)
           as revenue_30d,
       attrition_rate_30d, avg_clv_net_36m
from marts.kpi_daily order by kpi_date
"""

SEGMENTS_SQL = """
select scheme, segment, count(*) as customers,
       count(*) filter (where is_change and previous_segment is not null) as moved_in
from marts.customer_segments group by scheme, segment order by scheme, customers desc
"""

MOVEMENTS_SQL = """
select scheme, previous_segment as from_segment, segment as to_segment, count(*) as customers
from marts.customer_segments
where is_change and previous_segment is not null
group by all order by customers desc limit 15
"""

MODELS_SQL = """
select model_name, status, selected, customers, time_unit, calibration_end, log_likelihood,
       holdout_metrics, parameters, notes
from scores.model_runs where run_id = $run_id order by model_name
"""


def _models(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    frame = con.execute(MODELS_SQL, {"run_id": run_id}).df()
    models = frame.to_dict("records")
    for model in models:
        for column in ("holdout_metrics", "parameters"):
            value = model[column]
            model[column] = json.loads(value) if isinstance(value, str) and value else {}
    return models


def _read(facts: WarehouseFacts, con: duckdb.DuckDBPyConnection, run_id: str, since) -> None:
    tables = _tables(con)
    if {"meta.load_batches", "quarantine.rejected_rows", "quarantine.rejected_values"} <= tables:
        facts.quarantine = con.execute(QUARANTINE_SQL, {"since": since}).df()
    if "marts.kpi_daily" in tables:
        facts.kpis = con.execute(KPI_SQL).df()
    if "marts.customer_segments" in tables:
        facts.segments = con.execute(SEGMENTS_SQL).df()
        facts.movements = con.execute(MOVEMENTS_SQL).df()
    if "scores.model_runs" in tables:
        facts.models = _models(con, run_id)
    facts.row_counts = {  # the history's own tables are bookkeeping, not data
        table: rows
        for table, rows in table_row_counts(con).items()
        if table not in (ROW_COUNT_HISTORY, PUBLICATIONS)
    }
    facts.previous_counts = previous_row_counts(con, run_id)


def read_warehouse_facts(
    warehouse: Path, run_id: str, run_started: dt.datetime | None
) -> WarehouseFacts:
    """The report's facts from `warehouse` (a missing or unreadable file gives empty facts and
    says why: the report is still written)."""
    facts = WarehouseFacts(path=warehouse)
    if not warehouse.exists():
        facts.problems.append(f"no warehouse file at {warehouse}")
        return facts
    since = run_started or dt.datetime(1900, 1, 1)
    try:
        with connection(warehouse, read_only=True) as con:
            _read(facts, con, run_id, since)
    except duckdb.Error as exc:
        facts.problems.append(f"the warehouse could not be read: {exc}")
    return facts
