import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.attrition import calibration_table, features, labels, lift_at
from models.clv import fit_purchase_model
from models.rfm import rfm_summary
from models.scoring import ScoringConfig, run_scoring

pytestmark = pytest.mark.slow(seconds=75)
START = dt.date(2023, 1, 1)
AS_OF = dt.date(2025, 1, 1)


def simulate(n=1500, seed=11):
    """BG/NBD customers (rates per day) who, when they drop out, have often complained shortly
    before (behaviour the BTYD models cannot see); a few complaints are from loyal customers."""
    rng = np.random.default_rng(seed)
    horizon = (AS_OF - START).days + 200  # the story goes on after the as-of date
    tx, ix, died = [], [], {}
    for key in range(1, n + 1):
        first = rng.integers(0, 400)
        lam, p = rng.gamma(0.8, 1 / 25), rng.beta(1.0, 5.0)
        t, days = float(first), [float(first)]
        while True:
            t += rng.exponential(1 / lam)
            if t > horizon:
                break
            days.append(t)
            if rng.random() < p:
                died[key] = t
                break
        channels = ["web", "app"] if rng.random() < 0.5 else ["branch"]
        for d in days:
            tx.append((key, START + dt.timedelta(days=int(d)), round(rng.gamma(4, 10), 2)))
            tx[-1] = (*tx[-1], channels[int(rng.integers(0, len(channels)))])
        if key in died and rng.random() < 0.7:
            at = START + dt.timedelta(days=int(died[key]) - int(rng.integers(1, 30)))
            ix.append((key, at, "call centre", "complaint", True, None, 1))
        elif rng.random() < 0.05:
            at = START + dt.timedelta(days=int(rng.integers(first, horizon)))
            ix.append((key, at, "call centre", "complaint", True, at + dt.timedelta(days=2), 4))
    death = pd.Series({k: START + dt.timedelta(days=int(v)) for k, v in died.items()})
    return tx, ix, death


def warehouse(tx, ix):
    con = duckdb.connect()
    con.execute("create schema core")
    con.execute(
        "create table core.fct_transactions (customer_key bigint, occurred_on date, "
        "amount decimal(18,2), channel varchar)"
    )
    con.execute(
        "create table core.fct_interactions (customer_key bigint, occurred_at timestamp, "
        "channel varchar, interaction_type varchar, is_complaint boolean, resolved_at timestamp, "
        "satisfaction integer)"
    )
    con.executemany("insert into core.fct_transactions values (?, ?, ?, ?)", tx)
    if ix:
        con.executemany("insert into core.fct_interactions values (?, ?, ?, ?, ?, ?, ?)", ix)
    return con


@pytest.fixture(scope="module")
def simulated():
    tx, ix, death = simulate()
    con = warehouse(tx, ix)
    result = run_scoring(con, AS_OF, "r1")
    scores = con.execute("select * from scores.customer_scores where as_of_date = ?", [AS_OF]).df()
    runs = con.execute("select * from scores.model_runs where run_id = 'r1'").df()
    return tx, ix, death, con, result, scores.set_index("customer_key"), runs


def test_attrition_is_validated_out_of_time_and_beats_p_alive(simulated):
    _, _, death, _, result, scores, runs = simulated
    rows = runs.set_index("model_name")
    row, baseline_row = rows.loc["attrition_gbm"], rows.loc["attrition_btyd_baseline"]
    metrics, baseline = (json.loads(r.holdout_metrics) for r in (row, baseline_row))
    assert row.status == "ok", (row.notes, result.warnings)
    assert metrics["validation_cut"] == "2024-07-05"
    assert metrics["train_cuts"] == ["2024-01-07", "2023-12-08", "2023-11-08"]
    assert json.loads(row.parameters)["label"] == (
        "no purchase and no engagement in the next 180 days"
    )
    assert metrics["auc"] > 0.75 and metrics["top_decile_lift"] > 1.3
    # The baseline is scored on the same customers and label, and stored beside it.
    assert baseline["customers"] == metrics["customers"]
    assert baseline["base_rate"] == metrics["base_rate"]
    assert metrics["auc_uplift_over_baseline"] == pytest.approx(metrics["auc"] - baseline["auc"])
    assert metrics["auc"] > baseline["auc"] and row.selected and not baseline_row.selected
    assert result.attrition_fallback is None
    # deciles of ~150 customers: a binomial standard error of about 4 points each
    assert len(metrics["calibration"]) == 10 and metrics["max_calibration_gap"] < 0.15
    # Against the truth: who had really dropped out by the as-of date.
    dead = pd.Series(
        [1 if k in death.index and death[k] <= AS_OF else 0 for k in scores.index],
        index=scores.index,
    )
    assert roc_auc_score(dead, scores.attrition_risk) > 0.8
    assert roc_auc_score(dead, scores.attrition_risk) > roc_auc_score(dead, 1 - scores.p_alive)


def test_a_classifier_that_does_not_beat_the_baseline_is_not_used():
    """A business that wants an AUC uplift of 0.5 over 1 - P(alive) does not get it here:
    the run scores with the baseline, says so, and marks the baseline selected."""
    tx, ix, _ = simulate(n=600, seed=4)
    con = warehouse(tx, ix)
    result = run_scoring(con, AS_OF, "fb", ScoringConfig(min_attrition_auc_uplift=0.5))
    assert result.attrition_fallback is not None
    assert "does not beat the BTYD baseline" in result.attrition_fallback
    assert result.attrition_fallback in result.warnings
    runs = con.execute(
        "select model_name, status, selected from scores.model_runs where run_id = 'fb'"
    ).df()
    selected = dict(zip(runs.model_name, runs.selected, strict=True))
    assert not selected["attrition_gbm"] and selected["attrition_btyd_baseline"]
    scores = (
        con.execute("select * from scores.customer_scores where as_of_date = ?", [AS_OF])
        .df()
        .set_index("customer_key")
    )
    bgnbd = fit_purchase_model(rfm_summary(con, AS_OF), "bgnbd")
    expected = 1 - bgnbd.p_alive(rfm_summary(con, AS_OF))
    assert np.allclose(scores.attrition_risk, expected.reindex(scores.index))


def test_nothing_after_the_as_of_date_is_used(simulated):
    tx, ix, _, _, _, scores, _ = simulated
    future_tx = [t for t in tx if t[1] <= AS_OF]
    future_ix = [i for i in ix if i[1] <= AS_OF]
    assert len(future_tx) < len(tx)  # the simulation has facts after the as-of date
    con = warehouse(future_tx, future_ix)
    run_scoring(con, AS_OF, "r2")
    again = (
        con.execute("select * from scores.customer_scores where as_of_date = ?", [AS_OF])
        .df()
        .set_index("customer_key")
    )
    cols = ["p_alive", "attrition_risk", "clv_gross_36m", "clv_net_12m"]
    pd.testing.assert_frame_equal(again[cols], scores[cols])


def test_features_see_complaints_and_decline_only_up_to_the_cut():
    con = warehouse(
        [
            (1, dt.date(2024, 1, 10), 50, "web"),
            (1, dt.date(2024, 5, 10), 30, "app"),
            (1, dt.date(2024, 9, 1), 10, "web"),
            (2, dt.date(2024, 8, 1), 20, "web"),
            (2, dt.date(2024, 12, 1), 20, "web"),  # after the cut
        ],
        [
            (1, dt.datetime(2024, 8, 1, 10), "call centre", "complaint", True, None, 1),
            (
                1,
                dt.datetime(2024, 6, 1, 10),
                "call centre",
                "complaint",
                True,
                dt.datetime(2024, 10, 1),
                2,
            ),  # resolved only after the cut: still open at the cut
        ],
    )
    f = features(con, dt.date(2024, 9, 30), 180)
    assert f.loc[1, "complaints_year"] == 2 and f.loc[1, "complaints_open"] == 2
    assert f.loc[1, "worst_complaint_satisfaction"] == 1 and f.loc[1, "days_since_complaint"] == 60
    # the last purchase (2024-09-01) came after the last call (2024-08-01)
    assert f.loc[1, "days_since_engagement"] == 60 and f.loc[1, "engaged_since_purchase"] == 0
    assert f.loc[1, "days_since_activity"] == 29
    # web before; web, app and the call centre in the last 180 days
    assert f.loc[1, "channels_prior"] == 1 and f.loc[1, "channels_recent"] == 3
    assert f.loc[1, "spend_recent"] == 40 and f.loc[1, "spend_prior"] == 50
    assert f.loc[2, "purchase_days"] == 1 and f.loc[2, "days_since_purchase"] == 60
    assert np.isnan(f.loc[2, "satisfaction_year"]) and f.loc[2, "complaints_year"] == 0
    # Attrition = neither a purchase nor engagement in the horizon: customer 2 bought again.
    assert labels(con, dt.date(2024, 9, 30), 180, f.index).to_dict() == {1: 1, 2: 0}
    assert labels(con, dt.date(2024, 7, 15), 180, f.index).to_dict() == {1: 0, 2: 0}


def test_purchase_days_and_channels_count_days_not_transactions():
    """Two purchases on one day are one purchase day; a refund's day is none; a channel used
    on several days in a window counts once."""
    con = warehouse(
        [
            (1, dt.date(2024, 9, 1), 10, "web"),
            (1, dt.date(2024, 9, 1), 30, "web"),
            (1, dt.date(2024, 9, 5), -10, "web"),  # a refund
            (1, dt.date(2024, 9, 9), 20, "web"),
            (1, dt.date(2024, 3, 1), 40, "app"),
            (1, dt.date(2024, 3, 2), 40, "app"),
        ],
        [],
    )
    f = features(con, dt.date(2024, 9, 30), 180)
    assert f.loc[1, "purchase_days"] == 4 and f.loc[1, "purchase_days_recent"] == 2
    assert f.loc[1, "purchase_days_prior"] == 2 and f.loc[1, "refunds"] == 1
    assert f.loc[1, "avg_order_value"] == 28  # (10 + 30 + 20 + 40 + 40) / 5 purchases
    assert f.loc[1, "channels_ever"] == 2 and f.loc[1, "channels_recent"] == 1
    assert f.loc[1, "channels_prior"] == 1 and f.loc[1, "days_since_activity"] == 21


def test_short_history_falls_back_to_p_alive_with_a_warning():
    tx, ix, _ = simulate(n=400, seed=3)
    con = warehouse(tx, ix)
    as_of = START + dt.timedelta(days=200)
    result = run_scoring(con, as_of, "short", ScoringConfig())
    assert "falls back to 1 - P(alive)" in result.attrition_fallback
    assert result.attrition_fallback in result.warnings
    scores = con.execute("select p_alive, attrition_risk from scores.customer_scores").df()
    assert np.allclose(scores.attrition_risk, 1 - scores.p_alive)
    gbm = next(m for m in result.models if m["model_name"] == "attrition_gbm")
    assert gbm["status"] == "unavailable" and "too little history" in gbm["notes"]
    # The calibration period (20 days, 22 customers) is too short for a sound holdout fit.
    assert result.poor_fits == [result.selected_model]
    # The next night reuses that fit: still 1 - P(alive), and the warning check says why.
    later = run_scoring(con, as_of + dt.timedelta(days=1), "short-2", ScoringConfig())
    assert not later.refitted
    assert "could not be fitted on " + as_of.isoformat() in later.attrition_fallback
    scores = con.execute(
        "select p_alive, attrition_risk from scores.customer_scores where run_id = 'short-2'"
    ).df()
    assert len(scores) and np.allclose(scores.attrition_risk, 1 - scores.p_alive)


def test_lift_and_calibration_table():
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.05])
    label = np.array([1, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    assert lift_at(score, label, 0.1) == pytest.approx(1 / 0.3)
    table = calibration_table(score, label, bins=5)
    assert [r["customers"] for r in table] == [2] * 5
    assert table[-1]["observed"] == 1.0 and table[0]["observed"] == 0.0


def test_a_failed_refit_reuses_the_stored_fit_rather_than_scoring_nobody(simulated):
    """Corrections leave eight customers: too few to refit, but the stored fit still scores."""
    from models.scoring.store import ensure_scores_schema

    _, _, _, con, _, _, _ = simulated
    tx = con.execute("select * from core.fct_transactions where customer_key <= 8").fetchall()
    ix = con.execute("select * from core.fct_interactions where customer_key <= 8").fetchall()
    few = warehouse(tx, ix)
    ensure_scores_schema(few)
    for table in ("model_runs", "model_artifacts"):
        few.register(
            "stored", con.execute(f"select * from scores.{table} where run_id = 'r1'").df()
        )
        few.execute(f"insert into scores.{table} by name select * from stored")
        few.unregister("stored")
    result = run_scoring(few, AS_OF, "after-corrections", ScoringConfig(force_refit=True))
    assert not result.refitted and result.unavailable is None
    assert result.refit_reason.startswith("the models could not be refitted (too little history")
    assert result.refit_reason in result.warnings
    scored = few.execute("select count(*), count(clv_net_36m) from scores.customer_scores")
    scored = scored.fetchall()
    buyers = few.execute(
        "select count(distinct customer_key) from core.fct_transactions "
        "where amount >= 0 and occurred_on <= ?",
        [AS_OF],
    ).fetchall()[0][0]
    assert scored == [(buyers, buyers)]
