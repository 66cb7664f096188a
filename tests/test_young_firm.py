"""A young firm's first nights: too little history to fit the scoring models (one purchase per
customer, or no purchase at all) still publishes the warehouse, with the scores marked
unavailable and a warning; a later night with repeat purchases scores normally."""

import datetime as dt
import json
import os
import time

import duckdb
import pandas as pd
import pytest

from tests.helpers import customers, nightly, write

pytestmark = pytest.mark.slow(seconds=90)
FIRST_NIGHT = dt.date(2025, 6, 30)
LATER_NIGHT = dt.date(2025, 12, 31)


def settings(root, as_of):
    from orchestration.settings import CifSettings

    return CifSettings.in_folder(root, as_of)


def query(root, sql):
    with duckdb.connect(str(root / "wh" / "cif.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def one_purchase_each(n=12) -> pd.DataFrame:
    """A purchase per customer, on different days of the first half of 2025."""
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "source_customer_id": [f"c{i}" for i in range(n)],
            "occurred_at": [
                (dt.date(2025, 1, 5) + dt.timedelta(days=13 * i)).isoformat() for i in range(n)
            ],
            "amount": [f"{20 + 7 * i}.50" for i in range(n)],
            "currency": "EUR",
        }
    )


def repeat_purchases(n=12) -> pd.DataFrame:
    """Two to five more purchases per customer in the second half of 2025."""
    rows = [
        (
            f"r{i}-{k}",
            f"c{i}",
            (dt.date(2025, 7, 3) + dt.timedelta(days=11 * k + 3 * i)).isoformat(),
            f"{25 + 5 * i + 3 * k}.00",
        )
        for i in range(n)
        for k in range(2 + i % 4)
    ]
    frame = pd.DataFrame(
        rows, columns=["transaction_id", "source_customer_id", "occurred_at", "amount"]
    )
    return frame.assign(currency="EUR")


def the_check(report, name="scores_available"):
    return next(c for c in report.checks if c.name == name)


FIRST_NIGHT_SQL = {
    "customer_360": "select count(*), count(clv_net_12m), count(attrition_risk), "
    "list(distinct value_segment) from marts.customer_360",
    "scores": "select count(*) from scores.customer_scores",
    "runs": "select model_name, status, notes from scores.model_runs order by model_name",
    "value_tier": "select segment, count(*) from marts.customer_segments "
    "where scheme = 'value_tier' group by segment",
    "next_steps": "select count(*), count(next_step_reason), list(distinct attrition_reason) "
    "from marts.customer_next_steps",
    "kpi": "select customers, avg_clv_net_36m from marts.kpi_daily "
    f"where kpi_date = '{FIRST_NIGHT}'",
    "households": "select count(*), count(clv_net_36m) from marts.households",
    "win_back": "select count(*) from marts.win_back_candidates",
}


def summary_text(report) -> str:
    from rich.console import Console

    from orchestration.summary import print_summary

    console = Console(record=True, width=200)
    print_summary(console, report)
    return console.export_text()


def frontline_show(root, customer_key):
    from frontline.service import Frontline
    from ingest.privacy import pii_columns, pseudonym_key
    from orchestration.dbt_project import MANIFEST

    warehouse = root / "wh" / "cif.duckdb"
    kinds = pii_columns(MANIFEST)["customer_360"]
    service = Frontline(warehouse, kinds, pseudonym_key(warehouse), root / "audit.jsonl")
    return service.show(customer_key, "agent", "tester", "test")


def first_night_facts(root, report) -> dict:
    facts = {name: query(root, sql) for name, sql in FIRST_NIGHT_SQL.items()}
    facts["summary"] = summary_text(report)
    facts["report_page"] = report.report_file.read_text()
    facts["show"] = frontline_show(root, 1)
    return facts


@pytest.fixture(scope="module")
def young_firm(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("young_firm")
    shop = root / "landing" / "shop"
    write(shop / "customers" / "customers.csv", customers(12))
    write(shop / "transactions" / "first.csv", one_purchase_each())
    first = nightly(settings(root, FIRST_NIGHT))
    facts = first_night_facts(root, first)
    write(shop / "transactions" / "repeat.csv", repeat_purchases())
    plant_old_files(settings(root, LATER_NIGHT))
    later = nightly(settings(root, LATER_NIGHT))
    return root, first, facts, later


def plant_old_files(site) -> None:
    """What a year of nights leaves beside the warehouse: an old plot folder, an old run's
    log, a lookup of last year in the audit log."""
    year_ago = time.time() - 366 * 86400
    plot = site.exports / "plots" / "2024-12-31"
    plot.mkdir(parents=True)
    log = site.dagster_home / "logs" / "an-old-run.log"
    log.write_text("old")
    for path in (plot, log):
        os.utime(path, (year_ago, year_ago))
    site.audit_log.parent.mkdir(parents=True)
    at = dt.datetime.fromtimestamp(year_ago - 40 * 86400, dt.UTC).isoformat()
    site.audit_log.write_text(json.dumps({"at": at, "user": "someone"}) + "\n")


def test_first_night_without_repeat_purchases_publishes(young_firm):
    root, first, facts, _ = young_firm
    assert first.ok, first.explanation()
    assert (root / "wh" / "cif.duckdb").exists()
    assert facts["customer_360"] == [(12, 0, 0, ["not scored"])]  # every customer, no CLV
    assert facts["scores"] == [(0,)]


def test_first_night_marks_the_scores_unavailable_with_the_reason(young_firm):
    _, first, facts, _ = young_firm
    statuses = {name: (status, notes) for name, status, notes in facts["runs"]}
    assert set(statuses) == {"bgnbd", "pareto_nbd", "gamma_gamma", "attrition_gbm"}
    assert {status for status, _ in statuses.values()} == {"unavailable"}
    assert "no repeat purchases yet (12 customers" in statuses["bgnbd"][1]
    check = the_check(first)
    assert not check.passed and not check.blocking
    assert "no repeat purchases yet" in check.description
    assert any("scores unavailable as of 2025-06-30" in w for w in first.warnings)
    assert "scores_available" in facts["summary"] and "no repeat purchases" in facts["summary"]
    assert "unavailable" in facts["report_page"] and "scores_available" in facts["report_page"]


def test_first_night_marts_show_the_customers_unscored(young_firm):
    _, _, facts, _ = young_firm
    assert facts["value_tier"] == [("not scored", 12)]
    assert facts["next_steps"] == [
        (12, 12, ["Not scored: too little purchase history to fit the models yet."])
    ]
    assert facts["kpi"] == [(12, None)]
    assert facts["households"] == [(12, 0)]
    assert facts["win_back"] == [(0,)]
    show = facts["show"]
    assert show["as_of"] == FIRST_NIGHT
    assert show["scores"]["clv_net_36m"] is None
    assert show["verdicts"]["value_segment"] == "not scored"


def test_a_later_night_with_repeat_purchases_scores_normally(young_firm):
    root, _, _, later = young_firm
    assert later.ok, later.explanation()
    assert the_check(later).passed
    assert query(
        root,
        f"select count(*), count(clv_net_12m) from scores.customer_scores "
        f"where as_of_date = '{LATER_NIGHT}'",
    ) == [(12, 12)]
    assert query(root, "select count(*), count(clv_net_12m) from marts.customer_360") == [(12, 12)]
    fitted = query(
        root,
        f"select model_name from scores.model_runs where as_of_date = '{LATER_NIGHT}' "
        "and refitted and status <> 'unavailable' and parameters is not null",
    )
    assert {"bgnbd", "gamma_gamma"} <= {name for (name,) in fitted}
    tiers = query(
        root,
        "select count(*) from marts.customer_segments where scheme = 'value_tier' "
        "and segment in ('top value', 'mid value', 'low value')",
    )
    assert tiers == [(12,)]


def test_a_later_night_removes_what_is_past_its_retention_and_says_so(young_firm):
    root, _, _, later = young_firm
    site = settings(root, LATER_NIGHT)
    assert not (site.exports / "plots" / "2024-12-31").exists()
    assert not (site.dagster_home / "logs" / "an-old-run.log").exists()
    assert site.audit_log.read_text() == ""
    text = summary_text(later)
    assert "Plots written more than 30 days ago removed (CIF_EXPORT_KEEP_DAYS): 2024-12-31" in text
    assert "Audit log lookups older than 400 days removed (CIF_AUDIT_KEEP_DAYS): 1" in text
