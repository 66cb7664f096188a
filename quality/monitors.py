"""Monitors of what matters to the business: conflicting keys, volume, freshness, KPI drift.

Each returns a `Finding` list: empty means all is well. The latest load is the set of batches
with the newest `loaded_at` (one run loads all its files with one timestamp).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

import duckdb

from ingest.layouts import Layout, layout_for
from ingest.loader import LINEAGE_COLUMNS
from ingest.sql import quote_ident


def raw_table_of(source_system: str, entity: str) -> str | None:
    """The raw table ("raw.x") a landed source system's entity loads into."""
    layout = layout_for(source_system, entity)
    return f"raw.{layout.raw_table}" if layout else None


LATEST_LOAD = "(select max(loaded_at) from meta.load_batches)"


@dataclass(frozen=True)
class Finding:
    subject: str
    message: str
    table: str | None = None  # the raw table ("raw.x") a finding about landed data concerns

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def conflicting_keys(
    con: duckdb.DuckDBPyConnection, layouts: list[Layout], examples: int = 5
) -> list[Finding]:
    """Keys that appear twice in one file with different values (exact repeats are fine)."""
    findings = []
    for layout in layouts:
        if not layout.key:
            continue
        table = f"raw.{quote_ident(layout.raw_table)}"
        columns = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                [layout.raw_table],
            ).fetchall()
            if r[0] not in LINEAGE_COLUMNS
        ]
        keys = ", ".join(quote_ident(k) for k in layout.key)
        record = "row(" + ", ".join(quote_ident(c) for c in columns) + ")"
        rows = con.execute(
            f"select _source_file, {keys}, count(distinct {record}) as versions from {table} "
            f"group by _source_file, {keys} having count(distinct {record}) > 1 "
            f"order by _source_file, {keys}"
        ).fetchall()
        if rows:
            shown = "; ".join(
                f"{'/'.join(str(v) for v in r[1:-1])} ({r[-1]} versions in {r[0]})"
                for r in rows[:examples]
            )
            findings.append(
                Finding(
                    f"raw.{layout.raw_table}",
                    table=f"raw.{layout.raw_table}",
                    message=f"{len(rows)} keys ({', '.join(layout.key)}) have conflicting records "
                    f"within one file, e.g. {shown}",
                )
            )
    return findings


def low_volume(con: duckdb.DuckDBPyConnection, ratio: float = 1 / 3) -> list[Finding]:
    """Files of the latest load with far fewer rows than that source usually sends."""
    rows = con.execute(
        f"""
        with latest as (
            select source_system, entity, file_path, rows_received from meta.load_batches
            where loaded_at = {LATEST_LOAD} and status = 'loaded'
        ),
        usual as (
            select source_system, entity, median(rows_received) as usual_rows, count(*) as files
            from meta.load_batches
            where loaded_at < {LATEST_LOAD} and status = 'loaded'
            group by all
        )
        select l.source_system, l.entity, l.file_path, l.rows_received, u.usual_rows
        from latest l join usual u using (source_system, entity)
        where u.files >= 2 and l.rows_received < ? * u.usual_rows
        """,
        [ratio],
    ).fetchall()
    return [
        Finding(
            f"{system}/{entity}",
            f"{path} has {received:,} rows, usually {usual:,.0f}: less than {ratio:.0%} of usual",
            raw_table_of(system, entity),
        )
        for system, entity, path, received, usual in rows
    ]


def missing_sources(con: duckdb.DuckDBPyConnection, lookback_days: int = 7) -> list[Finding]:
    """Sources that delivered in the week before the latest load but not in it."""
    rows = con.execute(
        f"""
        select distinct source_system, entity from meta.load_batches
        where loaded_at < {LATEST_LOAD}
          and loaded_at >= {LATEST_LOAD} - to_days(?)
          and status = 'loaded'
        except
        select source_system, entity from meta.load_batches where loaded_at = {LATEST_LOAD}
        order by 1, 2
        """,
        [lookback_days],
    ).fetchall()
    return [
        Finding(
            f"{system}/{entity}",
            f"sent no file in the latest load (it did in the last {lookback_days} days)",
            raw_table_of(system, entity),
        )
        for system, entity in rows
    ]


KPI_SQL = """
select as_of_date, count(*) as customers_scored, avg(clv_net_12m) as average_clv,
       avg(attrition_risk) as average_attrition_risk
from scores.customer_scores group by as_of_date order by as_of_date
"""


def kpi_drift(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, history: int = 7, tolerance: float = 0.5
) -> list[Finding]:
    """KPIs of this as-of date that moved more than `tolerance` (relative) from the mean of the
    previous `history` as-of dates (needs at least 3 of them)."""
    frame = con.execute(KPI_SQL).df()
    frame["as_of_date"] = frame.as_of_date.dt.date
    current = frame[frame.as_of_date == as_of]
    before = frame[frame.as_of_date < as_of].tail(history)
    if current.empty or len(before) < 3:
        return []
    findings = []
    for kpi in ("customers_scored", "average_clv", "average_attrition_risk"):
        usual = statistics.fmean(before[kpi])
        now = float(current[kpi].iloc[0])
        if usual and abs(now - usual) / abs(usual) > tolerance:
            findings.append(
                Finding(
                    kpi,
                    f"{now:,.3f} on {as_of} against a usual {usual:,.3f} ({(now - usual) / usual:+.0%})",
                )
            )
    return findings
