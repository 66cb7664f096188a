"""Sources of one shape, as a new user's first files are: customers only and interactions only,
with no purchase anywhere, run as of a date before the files were loaded. One nightly run,
shared by the assertions. (Transactions only, with their customers arriving later, and the
money reconciliation: tests/test_cdnow.py, on the public CDNOW sample.)"""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from tests.helpers import HISTORY_DAY1, customers, nightly, write

pytestmark = pytest.mark.slow(seconds=35)
AS_OF = HISTORY_DAY1  # 2024-06-30: long before the files are loaded (today)


def settings(root, as_of=AS_OF):
    from orchestration.settings import CifSettings

    return CifSettings.in_folder(root, as_of)


def query(root, sql):
    with duckdb.connect(str(root / "wh" / "cif.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


# --- customers only and interactions only: no purchase anywhere ----------------------------


@pytest.fixture(scope="module")
def no_purchases(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("no_purchases")
    dated = customers(200)
    undated = customers(203).iloc[200:].assign(updated_at="")  # empty business time
    undated.loc[undated.index[0], "last_name"] = "Undated"
    bad_birth = dated.assign(date_of_birth=None)
    bad_birth.loc[0, "date_of_birth"] = "1945-04-93"  # a bad optional value
    write(root / "landing" / "crm" / "customers" / "a.csv", pd.concat([bad_birth, undated]))
    no_column = customers(205).iloc[203:].drop(columns="updated_at")  # no updated_at at all
    write(root / "landing" / "crm" / "customers" / "b.csv", no_column)
    interactions = pd.DataFrame(
        {
            "interaction_id": [f"i{i}" for i in range(12)],
            "source_customer_id": [f"h{i % 5}" for i in range(12)],
            "occurred_at": [f"2024-0{1 + i % 6}-15T10:00:00" for i in range(12)],
            "channel": ["phone"] * 12,
            "is_complaint": ["true" if i % 4 == 0 else "false" for i in range(12)],
        }
    )
    write(root / "landing" / "helpdesk" / "interactions" / "i.csv", interactions)
    report = nightly(settings(root))
    return root, report


def test_customers_and_interactions_only_run_succeeds(no_purchases):
    root, report = no_purchases
    assert report.ok, report.explanation()
    assert report.customers == 205 + 5  # every crm record, and the 5 helpdesk callers
    assert any("no purchases up to 2024-06-30" in w for w in report.warnings)
    assert query(root, "select count(*) from scores.customer_scores") == [(0,)]
    check = next(c for c in report.checks if c.name == "scores_available")
    assert not check.passed and "no purchases up to 2024-06-30" in check.description
    assert query(root, "select distinct status, notes from scores.model_runs") == [
        ("unavailable", "no purchases up to 2024-06-30")
    ]
    assert query(root, "select distinct value_segment from marts.customer_360") == [("prospect",)]
    assert query(root, "select count(*) from marts.key_accounts") == [(0,)]
    assert query(root, "select count(*) from core.fct_interactions") == [(12,)]


def test_records_without_business_time_are_there_for_every_as_of(no_purchases):
    root, _ = no_purchases
    undated = query(
        root,
        "select s.source_customer_id, s.updated_at, s.loaded_at, d.valid_from "
        "from staging.stg_canonical__customers s "
        "join core.customer_identity_map m using (source_system, source_customer_id) "
        "join core.dim_customer d on d.customer_key = m.customer_key and d.is_current "
        "where s.source_customer_id in ('c200', 'c201', 'c202', 'c203', 'c204') order by 1",
    )
    assert [r[0] for r in undated] == ["c200", "c201", "c202", "c203", "c204"]
    start = dt.datetime(1900, 1, 1)  # var plausible_from: business time, for --as-of
    assert all(r[1] == start and r[3] == start for r in undated)
    assert all(r[2].date() > AS_OF for r in undated)  # knowledge time: the load, --as-known-at
    names = query(root, "select last_name from marts.customer_360 where last_name = 'Undated'")
    assert names == [("Undated",)]


def test_a_bad_optional_value_costs_the_value_not_the_customer(no_purchases):
    root, report = no_purchases
    assert report.by_source["crm"]["values_quarantined"] == 1
    assert report.by_source["crm"]["quarantined"] == 0
    assert query(
        root, "select column_name, original_value, reason from quarantine.rejected_values"
    ) == [("date_of_birth", "1945-04-93", "bad date")]
    birth = query(
        root,
        "select d.date_of_birth from core.dim_customer d join core.customer_identity_map m "
        "using (customer_key) where m.source_customer_id = 'c0' and d.is_current",
    )
    assert birth == [(None,)]
