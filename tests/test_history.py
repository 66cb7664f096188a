"""History: SCD2 customers, facts as of a date, and reproducing a past run exactly."""

import datetime as dt
import time

import duckdb
import pandas as pd
import pytest

from tests.helpers import HISTORY_DAY1, customers, nightly, purchases, write

pytestmark = pytest.mark.slow(seconds=190)
DAY1 = HISTORY_DAY1
DAY2 = dt.date(2024, 7, 31)
MID_MONTH = dt.date(2024, 6, 20)


@pytest.fixture(scope="module")
def history(tmp_path_factory, dbt_manifest):
    from orchestration.settings import CifSettings

    root = tmp_path_factory.mktemp("history")
    landing = root / "landing" / "crm"

    def settings(as_of, **kw):
        return CifSettings.in_folder(root, as_of, **kw)

    day1 = purchases()
    future = pd.DataFrame([("tx-future", "c0", "2030-01-01", "99.00")], columns=day1.columns)
    write(landing / "customers" / "day1.csv", customers())
    write(landing / "transactions" / "day1.csv", pd.concat([day1, future]))
    wh, snapshot, between = _night_to_reproduce(settings(DAY1))

    moved = (
        customers()
        .iloc[[0]]
        .assign(last_name="Lee-Smith", address_line="9 Elm Road", updated_at="2024-07-15T10:00:00")
    )
    write(landing / "customers" / "day2.csv", moved)
    late = pd.DataFrame(
        [("t-late", "c1", "2024-06-20", "500.00"), ("t-july", "c2", "2024-07-10", "20.00")],
        columns=day1.columns,
    )
    write(landing / "transactions" / "day2.csv", late)
    second = nightly(settings(DAY2))
    assert second.ok, second.explanation()
    return {"wh": wh, "settings": settings, "snapshot": snapshot, "between": between}


def _night_to_reproduce(settings):
    """Run a night; its warehouse, its customer_360 and a knowledge time after it and before
    anything the test lands next (what --as-known-at gives back)."""
    report = nightly(settings)
    assert report.ok, report.explanation()
    snapshot = read(settings.warehouse, "select * from marts.customer_360 order by customer_key")
    time.sleep(1.1)
    between = dt.datetime.now().replace(microsecond=0)
    time.sleep(1.1)
    return settings.warehouse, snapshot, between


def read(wh, sql):
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute(sql).df()


def test_customer_changes_are_kept_as_scd2_versions(history):
    dim = read(
        history["wh"],
        "select d.* from core.dim_customer d join core.customer_identity_map m "
        "using (customer_key) where m.source_customer_id = 'c0' order by valid_from",
    )
    assert dim.last_name.tolist() == ["Lee", "Lee-Smith"]
    assert dim.address_line.tolist() == ["0 Oak Street", "9 Elm Road"]
    assert dim.valid_to.iloc[0] == pd.Timestamp("2024-07-15 10:00:00") == dim.valid_from.iloc[1]
    assert dim.is_current.tolist() == [False, True]
    assert dim.email_source.tolist() == ["crm", "crm"]


def test_facts_after_the_as_of_date_are_not_used(history):
    facts = read(history["wh"], "select transaction_id from core.fct_transactions")
    assert "tx-future" not in set(facts.transaction_id)
    assert {"t-late", "t-july"} <= set(facts.transaction_id)


def test_a_past_run_is_reproduced_exactly_with_as_known_at(history):
    settings = history["settings"]
    report = nightly(settings(DAY1, as_known_at=history["between"]))
    assert report.ok, report.explanation()
    again = read(history["wh"], "select * from marts.customer_360 order by customer_key")
    pd.testing.assert_frame_equal(again, history["snapshot"])
    c0 = again[again.source_identifiers == "crm:c0"]
    assert c0.last_name.tolist() == ["Lee"]  # the July change is not known on June 30


def test_without_as_known_at_late_arriving_rows_count_for_their_business_date(history):
    settings = history["settings"]
    report = nightly(settings(DAY1, full_refresh=True))
    assert report.ok, report.explanation()
    now = read(history["wh"], "select * from marts.customer_360 order by customer_key")
    before = history["snapshot"]
    c1_now = now[now.source_identifiers == "crm:c1"].lifetime_spend.iloc[0]
    c1_before = before[before.source_identifiers == "crm:c1"].lifetime_spend.iloc[0]
    assert float(c1_now - c1_before) == pytest.approx(500.0)
    assert len(now) == len(before)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, dbt_manifest):
    """A mid-month night, then later nights whose scores retention (one day) removes the
    mid-month night's scores: what reproducing it with --as-known-at has to do without."""
    from orchestration.settings import CifSettings

    root = tmp_path_factory.mktemp("pruned")
    landing = root / "landing" / "crm"

    def settings(as_of, **kw):
        return CifSettings.in_folder(root, as_of, scores_keep_days=1, **kw)

    write(landing / "customers" / "day1.csv", customers())
    write(landing / "transactions" / "day1.csv", purchases())
    wh, snapshot, between = _night_to_reproduce(settings(MID_MONTH))
    for day in (DAY1, dt.date(2024, 7, 15)):
        later = nightly(settings(day))
        assert later.ok, later.explanation()
    return {"wh": wh, "settings": settings, "snapshot": snapshot, "between": between}


def test_a_night_whose_scores_retention_removed_is_reproduced_exactly(pruned):
    scored = read(pruned["wh"], "select distinct as_of_date from scores.customer_scores")
    assert set(scored.as_of_date.dt.date) == {DAY1, dt.date(2024, 7, 15)}  # 06-20's went
    report = nightly(pruned["settings"](MID_MONTH, as_known_at=pruned["between"]))
    assert report.ok, report.explanation()
    again = read(pruned["wh"], "select * from marts.customer_360 order by customer_key")
    pd.testing.assert_frame_equal(again, pruned["snapshot"])
    assert again.clv_net_36m.notna().any()
