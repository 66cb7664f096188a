"""Retention of what grows with nights, on real DuckDB files with rows dated by hand: scores
(recent nights and month-ends), model fits (and the fit a night reuses), run history, plots,
the audit log and quarantined records."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from models.scoring.retention import prune
from models.scoring.store import SUMMARY_SQL, ensure_scores_schema, write_scores

AS_OF = dt.date(2025, 6, 30)
NIGHTS = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(122)]  # to June 30
REFITS = NIGHTS[::7]  # a refit every 7 nights; the others reuse the latest refit


def fitted_on(night: dt.date) -> dt.date:
    return max(r for r in REFITS if r <= night)


def month_end(night: dt.date) -> bool:
    return (night + dt.timedelta(days=1)).day == 1


@pytest.fixture
def nights(tmp_path):
    """A warehouse with three customers' scores for every night of NIGHTS and each night's
    model run, reusing the latest refit (whose artifact is stored)."""
    con = duckdb.connect(str(tmp_path / "cif.duckdb"))
    ensure_scores_schema(con)
    con.execute(
        "insert into scores.customer_scores (customer_key, as_of_date, run_id, clv_net_36m) "
        "select k, d, 'run-' || d, 10.0 * k from unnest($nights) n(d), range(1, 4) c(k)",
        {"nights": NIGHTS},
    )
    con.execute(
        "insert into scores.score_summary by name "
        + SUMMARY_SQL.format(scores="scores.customer_scores")
    )
    for night in NIGHTS:
        refit = night in REFITS
        con.execute(
            "insert into scores.model_runs (run_id, model_name, as_of_date, fitted_at, status, "
            "selected, refitted, fitted_run_id) values (?, 'bgnbd', ?, now(), 'ok', true, ?, ?)",
            [f"run-{night}", night, refit, f"run-{fitted_on(night)}"],
        )
        if refit:
            con.execute(
                "insert into scores.model_artifacts values (?, 'attrition_gbm', 'skops', 'x', "
                "'\\x00'::blob, now())",
                [f"run-{night}"],
            )
    return con


def scored_dates(con) -> set[dt.date]:
    return {
        r[0]
        for r in con.execute("select distinct as_of_date from scores.customer_scores").fetchall()
    }


def runs(con, table="model_runs") -> set[str]:
    return {r[0] for r in con.execute(f"select distinct run_id from scores.{table}").fetchall()}


def test_scores_keep_recent_nights_and_month_ends_for_ever(nights):
    pruned = prune(nights, AS_OF, 35, 0)
    cutoff = AS_OF - dt.timedelta(days=35)
    expected = {d for d in NIGHTS if d > cutoff or month_end(d)}
    assert scored_dates(nights) == expected
    assert dt.date(2025, 3, 31) in expected and dt.date(2025, 4, 30) in expected
    assert sorted(pruned.score_dates) == sorted(set(NIGHTS) - expected)
    assert pruned.score_rows == 3 * len(pruned.score_dates)
    # the KPIs' summary keeps every scored night
    assert nights.execute("select count(*) from scores.score_summary").fetchall() == [(122,)]
    assert "CIF_SCORES_KEEP_DAYS" in pruned.note(35, 0)[0]
    assert prune(nights, AS_OF, 35, 0).score_dates == []  # the next run finds nothing to do


def test_a_reproduced_past_night_prunes_no_more_than_the_latest(nights):
    past = dt.date(2025, 4, 15)
    prune(nights, past, 35, 0)  # --as-of in the past: the window ends June 30
    cutoff = AS_OF - dt.timedelta(days=35)
    # the reproduced night keeps its own scores: its marts read them
    expected = {d for d in NIGHTS if d > cutoff or month_end(d) or d == past}
    assert scored_dates(nights) == expected


def test_keep_zero_keeps_every_night_and_every_fit(nights):
    pruned = prune(nights, AS_OF, 0, 0)
    assert pruned.score_dates == [] and pruned.model_runs == []
    assert scored_dates(nights) == set(NIGHTS)
    assert len(runs(nights)) == len(NIGHTS)


def test_model_runs_keep_recent_fits_those_of_kept_scores_and_the_fit_in_use(nights):
    pruned = prune(nights, AS_OF, 35, 1)  # model runs of one day only
    score_cutoff, run_cutoff = AS_OF - dt.timedelta(days=35), AS_OF - dt.timedelta(days=1)
    kept_nights = {d for d in NIGHTS if d > run_cutoff or d > score_cutoff or month_end(d)}
    expected = {f"run-{d}" for d in kept_nights} | {f"run-{fitted_on(d)}" for d in kept_nights}
    assert runs(nights) == expected
    assert f"run-{fitted_on(AS_OF)}" in expected  # June 28's fit: what June 30 reused
    assert runs(nights, "model_artifacts") == {f"run-{r}" for r in REFITS} & expected
    assert set(pruned.model_runs) == {f"run-{d}" for d in NIGHTS} - expected
    assert "CIF_MODEL_RUNS_KEEP_DAYS" in pruned.note(35, 1)[1]


def test_the_summary_is_written_with_the_scores_and_backfilled_once(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema scores")
    con.execute(
        "create table scores.customer_scores as select 1::bigint as customer_key, "
        "date '2025-01-31' as as_of_date, 'r0' as run_id, 40.0::double as clv_net_36m, "
        "0.25::double as attrition_risk"
    )
    ensure_scores_schema(con)  # a warehouse of before the summary: backfilled from its scores
    assert con.execute("select * from scores.score_summary").fetchall() == [
        (dt.date(2025, 1, 31), "r0", 1, 40.0, 0.25)
    ]
    scores = pd.DataFrame(
        {"customer_key": [1, 2], "as_of_date": AS_OF, "run_id": "r1", "clv_net_36m": [10.0, 30.0]}
    ).assign(attrition_risk=0.5)
    runs_frame = pd.DataFrame(
        {"run_id": ["r1"], "model_name": ["bgnbd"], "as_of_date": [AS_OF],
         "fitted_at": [dt.datetime(2025, 7, 1)], "status": ["ok"]}
    )  # fmt: skip
    write_scores(con, AS_OF, "r1", scores, runs_frame)
    ensure_scores_schema(con)
    assert con.execute(
        "select as_of_date, customers_scored, avg_clv_net_36m from scores.score_summary order by 1"
    ).fetchall() == [(dt.date(2025, 1, 31), 1, 40.0), (AS_OF, 2, 20.0)]


# --- quarantine detail ---------------------------------------------------------------------


def land_with_rejections(landing, name, loaded_at, con):
    """A canonical customers file with one rejected row and one rejected value, loaded at
    `loaded_at`."""
    from ingest.loader import load_landing

    folder = landing / "shop" / "customers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text(
        "source_customer_id,first_name,date_of_birth\n"
        f"{name}-1,Ann,1945-04-93\n,Bob,1960-01-01\n{name}-3,Cy,1970-02-02\n"
    )
    (result,) = [r for r in load_landing(con, landing, loaded_at=loaded_at) if r.status == "loaded"]
    return result.batch_id


def test_quarantine_detail_goes_after_its_days_and_the_counts_still_reconcile(tmp_path):
    from ingest.retention import prune_quarantine
    from quality.reconciliation import reconcile

    con = duckdb.connect(str(tmp_path / "cif.duckdb"))
    now = dt.datetime(2026, 12, 1, 3, 0)
    old = land_with_rejections(tmp_path / "landing", "old", now - dt.timedelta(days=401), con)
    new = land_with_rejections(tmp_path / "landing", "new", now - dt.timedelta(days=399), con)
    assert prune_quarantine(con, 400, now) == [old]
    for table in ("rejected_rows", "rejected_values"):
        batches = con.execute(f"select distinct batch_id from quarantine.{table}").fetchall()
        assert batches == [(new,)]
    counts = con.execute(
        "select batch_id, rows_quarantined, values_quarantined from meta.load_batches order by 1"
    ).fetchall()
    assert counts == [(old, 1, 1), (new, 1, 1)]  # the counts stay
    assert reconcile(con).ok  # the old batch's detail is gone on purpose
    assert prune_quarantine(con, 400, now) == []  # nothing more to do
    assert prune_quarantine(con, 0, now + dt.timedelta(days=999)) == []  # 0: for ever
    # a kept batch whose detail went missing is still a mismatch
    con.execute("delete from quarantine.rejected_rows where batch_id = ?", [new])
    (mismatch,) = reconcile(con).mismatches
    assert mismatch.batch_id == new


# --- files beside the warehouse: run history, plots, the audit log --------------------------

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def aged(path, days):
    """Give `path` the modification time of `days` before NOW."""
    import os

    stamp = (NOW - dt.timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_run_history_goes_with_its_logs_and_reports_never_latest(tmp_path):
    import sqlite3

    import dagster as dg

    from orchestration.instance import dagster_instance
    from orchestration.retention import prune_run_history
    from orchestration.settings import CifSettings

    settings = CifSettings.in_folder(tmp_path, AS_OF)
    instance = dagster_instance(settings)
    logs, reports = settings.dagster_home / "logs", settings.reports_dir
    logs.mkdir(parents=True)
    reports.mkdir(parents=True)
    ages = {"old": 120, "recent": 10, "current": 200, "running": 150}
    for run_id in ages:
        status = dg.DagsterRunStatus.STARTED if run_id == "running" else dg.DagsterRunStatus.SUCCESS
        instance.add_run(dg.DagsterRun(job_name="nightly", run_id=run_id, status=status))
        (logs / f"{run_id}.log").write_text("log")
        (reports / f"{run_id}.html").write_text("report")
    (reports / "latest.html").write_text("latest")
    (logs / "orphan.log").write_text("log")  # its run is gone from the history already
    aged(reports / "latest.html", 365)
    aged(logs / "orphan.log", 100)
    with sqlite3.connect(settings.dagster_home / "history" / "runs.db") as db:
        for run_id, days in ages.items():
            created = (NOW - dt.timedelta(days=days)).replace(tzinfo=None)
            db.execute("update runs set create_timestamp = ? where run_id = ?", [created, run_id])
    for run_id in ages:  # each run's events in its own database file, and its compute logs
        instance.report_engine_event("started", instance.get_run_by_id(run_id))
        (settings.dagster_home / "storage" / run_id / "compute_logs").mkdir(parents=True)
    shards = settings.dagster_home / "history" / "runs"
    assert (shards / "old.db").exists()
    removed = prune_run_history(instance, settings.dagster_home, reports, 90, "current", now=NOW)
    assert removed == ["old"]
    assert not list(shards.glob("old.db*")) and (shards / "recent.db").exists()
    assert not (settings.dagster_home / "storage" / "old").exists()
    assert (settings.dagster_home / "storage" / "recent").exists()
    assert {r.run_id for r in instance.get_runs()} == {"recent", "current", "running"}
    assert sorted(p.name for p in logs.iterdir()) == ["current.log", "recent.log", "running.log"]
    assert sorted(p.name for p in reports.iterdir()) == [
        "current.html", "latest.html", "recent.html", "running.html"
    ]  # fmt: skip
    assert prune_run_history(instance, settings.dagster_home, reports, 0, "x", now=NOW) == []


def test_plots_go_after_the_exports_days_never_tonights(tmp_path):
    from orchestration.retention import notes, prune_plots

    plots = tmp_path / "plots"
    for as_of, days in {
        "2025-01-31": 40,
        "2025-02-28": 31,
        "2025-03-31": 3,
        "2025-04-01": 90,
    }.items():
        folder = plots / as_of
        folder.mkdir(parents=True)
        (folder / "clv.png").write_bytes(b"png")
        aged(folder, days)
    assert prune_plots(plots, 30, "2025-04-01", now=NOW) == ["2025-01-31", "2025-02-28"]
    assert sorted(p.name for p in plots.iterdir()) == ["2025-03-31", "2025-04-01"]
    assert prune_plots(plots, 0, "x", now=NOW) == []
    assert "2025-01-31" in notes([], ["2025-01-31"], 0, {"plots": 30})[0]


def test_the_audit_log_drops_old_lookups_in_place_under_its_lock(tmp_path):
    import json

    from frontline import audit
    from orchestration.retention import prune_audit

    log = tmp_path / "audit" / "lookups.jsonl"
    log.parent.mkdir()
    lines = [
        {"at": (NOW - dt.timedelta(days=days)).isoformat(), "user": f"u{days}"}
        for days in (500, 401, 399, 3)
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    inode = log.stat().st_ino
    assert prune_audit(log, 400, now=NOW) == 2
    assert [e["user"] for e in audit.entries(log)] == ["u399", "u3"]
    assert log.stat().st_ino == inode  # rewritten in place: a waiting writer appends to it
    audit.record(log, user="after", role="agent", action="show", customer_keys=[1], channel="t")
    assert [e["user"] for e in audit.entries(log)] == ["u399", "u3", "after"]
    assert prune_audit(log, 400, now=NOW) == 0  # the first line is recent: nothing read beyond
    assert prune_audit(log, 0, now=NOW + dt.timedelta(days=9999)) == 0  # 0: for ever
    assert prune_audit(tmp_path / "none.jsonl", 400, now=NOW) == 0
