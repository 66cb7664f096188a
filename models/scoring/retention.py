"""Retention of the scores: every scored date of the last `keep_days`, each month's last scored
date for ever, and the model fits those dates and the next night still need.

What reads past scores by date: the segment history evaluates the month-ends of its window and
every night since the last month-end (int_segment_dates: the window must cover a month), the
KPIs read scores.score_summary (one row per scored date, never pruned), and a night reusing a
fit reads its model_runs rows and artifact (schedule.latest_fit). A reproduced past night
(`--as-known-at`) refits or reuses from the stored fits of its own as-of date, and rescores
every customer from the facts: it never reads a past night's scores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from ingest.warehouse import transaction
from models.scoring.schedule import latest_fit

# Dates of the summary (every scored date) that stay: recent, or the last of their month.
KEPT_DATES_SQL = """
select as_of_date from (
    select as_of_date, max(as_of_date) over (partition by date_trunc('month', as_of_date)) as last
    from scores.score_summary
)
where as_of_date > $cutoff or as_of_date = last or as_of_date = $as_of
"""
PRUNED_RUNS_SQL = """
with kept as (
    select run_id, fitted_run_id from scores.model_runs
    where as_of_date > $cutoff or list_contains($dates, as_of_date) or run_id = $in_use
)
select distinct run_id from scores.model_runs
where run_id not in (select run_id from kept)
  and run_id not in (select fitted_run_id from kept where fitted_run_id is not null)
"""


@dataclass
class Pruned:
    """What one night's retention removed."""

    score_dates: list[dt.date] = field(default_factory=list)
    score_rows: int = 0
    model_runs: list[str] = field(default_factory=list)

    def note(self, scores_keep_days: int, model_runs_keep_days: int) -> list[str]:
        notes = []
        if self.score_dates:
            notes.append(
                f"Scores of {len(self.score_dates)} night(s) older than {scores_keep_days} days "
                f"removed ({self.score_rows:,} rows; month-ends kept, CIF_SCORES_KEEP_DAYS): "
                + ", ".join(d.isoformat() for d in self.score_dates)
            )
        if self.model_runs:
            notes.append(
                f"Model runs older than {model_runs_keep_days} days removed with their "
                f"artifacts (CIF_MODEL_RUNS_KEEP_DAYS): {len(self.model_runs)} run(s)"
            )
        return notes


def _newest(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dt.date:
    """The reference date of the windows: a reproduced past night prunes no more than the
    latest night did."""
    row = con.execute("select max(as_of_date) from scores.score_summary").fetchone()
    return max(as_of, row[0]) if row and row[0] else as_of


def prune_scores(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, keep_days: int, pruned: Pruned
) -> list[dt.date]:
    """Delete the scores of nights older than `keep_days` that are not the last scored date of
    their month (0: keep every night), never the night's own (a reproduced past night reads
    them in its marts); returns the scored dates that stay."""
    newest = _newest(con, as_of)
    cutoff = newest - dt.timedelta(days=keep_days) if keep_days else dt.date.min
    kept = [
        r[0] for r in con.execute(KEPT_DATES_SQL, {"cutoff": cutoff, "as_of": as_of}).fetchall()
    ]
    dated = "select distinct as_of_date from scores.customer_scores where as_of_date <= $cutoff"
    stale = con.execute(
        f"select as_of_date from ({dated}) where not list_contains($kept, as_of_date) order by 1",
        {"cutoff": cutoff, "kept": kept},
    ).fetchall()
    pruned.score_dates = [r[0] for r in stale]
    if pruned.score_dates:
        pruned.score_rows = con.execute(  # the range first: row groups of later nights skipped
            "delete from scores.customer_scores "
            "where as_of_date <= $cutoff and list_contains($dates, as_of_date)",
            {"cutoff": cutoff, "dates": pruned.score_dates},
        ).fetchall()[0][0]
    return kept


def prune_model_runs(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    keep_days: int,
    kept_dates: list[dt.date],
    pruned: Pruned,
) -> None:
    """Delete the model runs (and their artifacts) older than `keep_days` (0: keep all), except
    those of kept score dates, the fits those runs reused and the fit a night of `as_of`
    reuses."""
    if not keep_days:
        return
    in_use = latest_fit(con, as_of)
    cutoff = _newest(con, as_of) - dt.timedelta(days=keep_days)
    params = {"cutoff": cutoff, "dates": kept_dates, "in_use": in_use.run_id if in_use else ""}
    pruned.model_runs = [r[0] for r in con.execute(PRUNED_RUNS_SQL, params).fetchall()]
    for table in ("model_runs", "model_artifacts"):
        con.execute(
            f"delete from scores.{table} where list_contains($runs, run_id)",
            {"runs": pruned.model_runs},
        )


def prune(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, scores_keep_days: int, runs_keep_days: int
) -> Pruned:
    """Both retentions, in one transaction."""
    pruned = Pruned()
    with transaction(con):
        kept = prune_scores(con, as_of, scores_keep_days, pruned)
        prune_model_runs(con, as_of, runs_keep_days, kept, pruned)
    return pruned
