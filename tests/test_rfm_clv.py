import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from models.clv import (
    FitError,
    discounted_purchases,
    expected_purchases,
    fit_purchase_model,
    fit_spend_model,
    holdout_metrics,
    score_customers,
    too_little_history,
)
from models.rfm import compress, holdout_actuals, rfm_summary
from models.scoring import run_scoring


@pytest.fixture
def facts():
    con = duckdb.connect()
    con.execute("create schema core")
    con.execute(
        "create table core.fct_transactions (customer_key bigint, occurred_on date, amount decimal(18,2))"
    )
    con.executemany(
        "insert into core.fct_transactions values (?, ?, ?)",
        [
            (1, dt.date(2024, 1, 1), 10),
            (1, dt.date(2024, 1, 1), 5),  # same day: one purchase day
            (1, dt.date(2024, 1, 11), 20),
            (1, dt.date(2024, 1, 31), 40),
            (1, dt.date(2024, 2, 5), -40),  # a refund is not a purchase
            (2, dt.date(2024, 1, 21), 7),
            (3, dt.date(2024, 2, 15), 9),  # after the end date
        ],
    )
    return con


def test_rfm_follows_btyd_conventions(facts):
    rfm = rfm_summary(facts, dt.date(2024, 1, 31))
    assert rfm.to_dict("index") == {
        1: {"frequency": 2.0, "recency": 30.0, "T": 30.0, "monetary_value": 30.0},
        2: {"frequency": 0.0, "recency": 0.0, "T": 10.0, "monetary_value": 0.0},
    }
    weekly = rfm_summary(facts, dt.date(2024, 1, 31), time_unit_days=7)
    assert weekly.loc[1, "T"] == pytest.approx(30 / 7)
    assert holdout_actuals(
        facts, dt.date(2024, 1, 31), dt.date(2024, 3, 1)
    ).holdout_purchases.to_dict() == {3: 1}


def test_compress_keeps_weights():
    rfm = pd.DataFrame({"frequency": [0, 0, 1], "recency": [0, 0, 5], "T": [9, 9, 9]})
    assert compress(rfm).weight.tolist() == [2, 1]


def simulated_rfm(n=4000, seed=3, r=0.5, alpha=20.0, a=0.8, b=3.0, days=400.0):
    """Customers drawn from the BG/NBD story, observed for `days` from their first purchase:
    they buy at rate lambda and may drop out (probability p) after each repeat purchase."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    rows = []
    for i in range(n):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > days:
                break
            times.append(t)
            if rng.random() < p[i]:
                break
        rows.append((float(len(times)), times[-1] if times else 0.0, days))
    rfm = pd.DataFrame(rows, columns=["frequency", "recency", "T"])
    rfm["monetary_value"] = np.where(rfm.frequency > 0, rng.gamma(6, 5, n), 0.0)
    return rfm


def test_weighted_bgnbd_recovers_the_simulated_parameters():
    rfm = simulated_rfm()
    model = fit_purchase_model(rfm, "bgnbd")
    # r and alpha trade off against each other; their ratio (the mean purchase rate) is sharp.
    assert model.params["r"] / model.params["alpha"] == pytest.approx(0.5 / 20.0, rel=0.15)
    assert model.params["a"] / (model.params["a"] + model.params["b"]) == pytest.approx(
        0.8 / 3.8, rel=0.3
    )
    assert model.log_likelihood < 0


def test_scores_are_consistent():
    rfm = simulated_rfm(n=1500)
    purchases = fit_purchase_model(rfm, "bgnbd")
    spend = fit_spend_model(rfm)
    service_per_year = pd.Series({0: 60.0})
    acquisition = pd.Series({1: 25.0})
    scores = score_customers(
        rfm, purchases, spend, 1.0, service_per_year, acquisition_cost=acquisition
    )
    assert scores.p_alive.between(0, 1).all()
    assert (scores.attrition_risk == 1 - scores.p_alive).all()
    assert (scores.clv_gross_36m >= scores.clv_gross_12m).all()
    annuity_12 = sum(1 / 1.01**i for i in range(1, 13))
    assert scores.loc[0, "clv_net_12m"] == pytest.approx(
        scores.loc[0, "clv_gross_12m"] - 5.0 * annuity_12 * scores.loc[0, "p_alive"]
    )
    assert scores.loc[1, "clv_net_36m"] == pytest.approx(scores.loc[1, "clv_gross_36m"] - 25.0)
    rest = scores.drop(index=[0, 1])
    assert (rest.clv_net_12m == rest.clv_gross_12m).all()
    # Gross CLV = discounted expected purchases x expected order value: undiscounted it is
    # the expected purchases over the horizon times the order value.
    undiscounted = discounted_purchases(purchases.fitter, rfm.head(50), 12, 1.0, 0.0)
    expected = expected_purchases(purchases.fitter, 365.25, rfm.head(50))
    assert np.allclose(undiscounted, expected)
    # Predictions are computed per distinct (frequency, recency, T) row: same as per customer.
    direct = purchases.fitter.conditional_probability_alive(rfm.frequency, rfm.recency, rfm["T"])
    assert np.allclose(scores.p_alive, direct)


def test_vectorised_scores_equal_lifetimes_per_customer():
    """Every prediction of score_customers (numpy closed forms over distinct rows) equals
    lifetimes' own methods called on each customer's history."""
    rfm = simulated_rfm(n=1500)
    purchases, spend = fit_purchase_model(rfm, "bgnbd"), fit_spend_model(rfm)
    scores = score_customers(rfm, purchases, spend, 1.0, pd.Series(dtype=float))
    bgf, ggf = purchases.fitter, spend.fitter
    x, rec, T = rfm.frequency, rfm.recency, rfm["T"]
    expected = bgf.conditional_expected_number_of_purchases_up_to_time
    assert np.allclose(scores.expected_purchases_365d, expected(365.0, x, rec, T), rtol=1e-10)
    monetary = rfm.monetary_value.where(x > 0, 0.0)
    aov = ggf.conditional_expected_average_profit(x, monetary)
    assert np.allclose(scores.expected_avg_order_value, aov, rtol=1e-12)
    month = 365.25 / 12
    cumulative = [expected(i * month, x, rec, T) for i in range(37)]
    clv36 = sum((cumulative[i] - cumulative[i - 1]) / 1.01**i for i in range(1, 37)) * aov
    assert np.allclose(scores.clv_gross_36m, clv36, rtol=1e-9)
    assert (scores.clv_gross_36m_p05 < scores.clv_gross_36m).all()
    assert (scores.clv_gross_36m < scores.clv_gross_36m_p95).all()
    pareto = fit_purchase_model(rfm, "pareto_nbd")
    alive = pareto.p_alive(rfm)
    at_end = (rec >= T) & (T > 0)
    direct = pareto.fitter.conditional_probability_alive(x, rec.where(~at_end, T - 1e-6), T)
    assert np.allclose(alive, direct, rtol=1e-10)
    assert np.allclose(
        expected_purchases(pareto.fitter, 100.0, rfm),
        pareto.fitter.conditional_expected_number_of_purchases_up_to_time(
            100.0, x, rec.where(~at_end, T - 1e-6), T
        ),
        rtol=1e-8,
    )


def test_pareto_nbd_fits_and_names_parameters_as_the_literature():
    rfm = simulated_rfm(n=3000, seed=5)
    pareto = fit_purchase_model(rfm, "pareto_nbd")
    assert set(pareto.params) == {"r", "alpha", "s", "beta"}
    assert not pareto.poor and pareto.log_likelihood < 0
    bgnbd = fit_purchase_model(rfm, "bgnbd")
    # Both models tell the same aggregate story about the next 100 days.
    assert expected_purchases(pareto.fitter, 100, rfm).sum() == pytest.approx(
        expected_purchases(bgnbd.fitter, 100, rfm).sum(), rel=0.15
    )
    # The data follow the BG/NBD story: BG/NBD fits at least as well.
    assert bgnbd.log_likelihood > pareto.log_likelihood - 5
    spend = fit_spend_model(rfm)
    assert set(spend.params) == {"p", "q", "gamma"}
    assert spend.params["p"] * spend.params["gamma"] / (spend.params["q"] - 1) == pytest.approx(
        30.0, rel=0.25
    )  # population mean spend of simulated_rfm: gamma(6, 5) has mean 30
    assert not spend.poor


def test_gamma_gamma_reports_a_broken_independence_assumption():
    rfm = simulated_rfm(n=1500)
    rfm["monetary_value"] = np.where(rfm.frequency > 0, 10.0 + 8.0 * rfm.frequency, 0.0)
    spend = fit_spend_model(rfm)
    assert spend.poor
    assert any("independence assumption" in n for n in spend.notes)


def test_holdout_calibration_table_by_frequency():
    predicted = pd.Series([1.0, 2.0, 3.0, 9.0], index=[1, 2, 3, 4])
    m = holdout_metrics(
        predicted, pd.Series({1: 1.0, 3: 5.0, 4: 8.0}), pd.Series({1: 0, 2: 0, 3: 2, 4: 11})
    )
    table = {row["frequency"]: row for row in m["calibration_by_frequency"]}
    assert table["0"]["customers"] == 2 and table["0"]["actual_mean"] == 0.5
    assert table["7+"]["predicted_mean"] == 9.0 and table["7+"]["actual_mean"] == 8.0


def test_too_little_data_is_a_clear_fit_error():
    with pytest.raises(FitError, match="too little data"):
        fit_purchase_model(pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [5.0]}))


def rfm_of(frequencies: list[int]) -> pd.DataFrame:
    n = len(frequencies)
    return pd.DataFrame(
        {"frequency": frequencies, "recency": [30.0] * n, "T": [90.0] * n, "monetary_value": 25.0}
    ).assign(monetary_value=lambda f: f.monetary_value.where(f.frequency > 0, 0.0))


def test_too_little_history_says_why_before_any_fit():
    assert too_little_history(rfm_of([1] * 9)) == (
        "only 9 customers with purchases (the models need 10)"
    )
    assert too_little_history(rfm_of([0] * 12)) == (
        "no repeat purchases yet (12 customers, one purchase day each)"
    )
    assert too_little_history(rfm_of([0] * 5 + [2] * 7)).startswith(
        "only 7 customers with repeat purchases"
    )
    assert too_little_history(rfm_of([0] * 5 + [2] * 10)) is None


def test_a_night_without_enough_history_stores_why_and_no_scores(facts):
    day = dt.date(2025, 6, 30)
    facts.executemany(
        "insert into core.fct_transactions values (?, ?, ?)",
        [(10 + i, dt.date(2025, 1, 1) + dt.timedelta(days=9 * i), 30 + i) for i in range(12)],
    )
    run_scoring(facts, day, "r0")  # creates the tables; scores of an earlier run of the day
    facts.execute(
        "insert into scores.customer_scores (customer_key, as_of_date, run_id) values (1, ?, 'r0')",
        [day],
    )
    result = run_scoring(facts, day, "r1")
    assert result.unavailable.startswith("too little history up to 2025-06-30")
    assert "only 1 customers with repeat purchases" in result.unavailable
    assert result.warnings == [f"scores unavailable as of 2025-06-30: {result.unavailable}"]
    assert facts.execute("select count(*) from scores.customer_scores").fetchall() == [(0,)]
    runs = facts.execute(
        "select model_name, status, notes, selected from scores.model_runs where run_id = 'r1'"
    ).fetchall()
    assert sorted(r[0] for r in runs) == ["attrition_gbm", "bgnbd", "gamma_gamma", "pareto_nbd"]
    assert {(r[1], r[2], r[3]) for r in runs} == {("unavailable", result.unavailable, False)}
    empty = run_scoring(facts, dt.date(2023, 12, 31), "r2")  # before the first purchase
    assert empty.unavailable == "no purchases up to 2023-12-31"


def test_holdout_metrics():
    m = holdout_metrics(pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3]), pd.Series({1: 1.0, 3: 5.0}))
    assert m["predicted_purchases"] == 6.0 and m["actual_purchases"] == 6.0
    assert m["aggregate_error_pct"] == 0.0
    assert m["mae"] == pytest.approx((0 + 2 + 2) / 3)


def test_large_populations_are_fitted_on_a_fixed_sample():
    rfm = simulated_rfm(n=3000)
    sampled = fit_purchase_model(rfm, "bgnbd", max_customers=1000)
    again = fit_purchase_model(rfm, "bgnbd", max_customers=1000)
    assert sampled.customers == 1000
    assert "fitted on a random sample of 1,000 of 3,000 customers" in sampled.notes
    assert sampled.params == again.params  # the same sample every time
    full = fit_purchase_model(rfm, "bgnbd")
    assert sampled.params["r"] / sampled.params["alpha"] == pytest.approx(
        full.params["r"] / full.params["alpha"], rel=0.2
    )


def test_likelihood_gradients_match_lifetimes_likelihoods():
    """The analytical gradients the fits search with are those of lifetimes' own likelihoods."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from models.clv_gradients import bgnbd_gradient, gamma_gamma_gradient

    rfm = simulated_rfm(n=300)
    x = rfm.frequency.to_numpy(float)
    rec, T = rfm.recency.to_numpy(float) / 400.0, rfm["T"].to_numpy(float) / 400.0
    w = np.arange(1.0, 301.0) % 4 + 1
    repeat = x > 0
    m = rfm.monetary_value.to_numpy(float)[repeat]
    for penalizer in (0.0, 0.01):
        cases = (
            (
                np.log([0.3, 2.0, 0.8, 3.0]),
                bgnbd_gradient(x, rec, T, w, penalizer),
                lambda lp, pen=penalizer: BetaGeoFitter._negative_log_likelihood(
                    lp, x, rec, T, w, pen
                ),
            ),
            (
                np.log([3.0, 10.0, 100.0]),
                gamma_gamma_gradient(x[repeat], m, w[repeat], penalizer),
                lambda lp, pen=penalizer: GammaGammaFitter._negative_log_likelihood(
                    lp, x[repeat], m, w[repeat], pen
                ),
            ),
        )
        for log_params, gradient, nll in cases:
            steps = 1e-6 * np.eye(len(log_params))
            numeric = [(nll(log_params + s) - nll(log_params - s)) / 2e-6 for s in steps]
            assert np.allclose(gradient(log_params), numeric, atol=1e-6)
