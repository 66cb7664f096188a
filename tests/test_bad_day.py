"""A bad day: blocking checks stop the marts, the alert hook fires; the corrected file fixes it."""

import datetime as dt
import json
import sys

import duckdb
import pandas as pd
import pytest

from tests.helpers import customers, nightly, purchases, write

pytestmark = pytest.mark.slow(seconds=75)
DAY1 = dt.date(2024, 6, 30)
DAY2 = dt.date(2024, 7, 1)


def test_a_bad_day_is_stopped_alerted_and_fixed_by_the_corrected_file(tmp_path, dbt_manifest):
    from orchestration.settings import CifSettings

    alerts = tmp_path / "hook.jsonl"
    hook = (
        f"{sys.executable} -c \"import sys; open('{alerts}', 'a').write(sys.stdin.read() + '\\n')\""
    )

    def settings(as_of):
        return CifSettings(
            landing=tmp_path / "landing",
            warehouse=tmp_path / "wh" / "cif.duckdb",
            exports=tmp_path / "exports",
            as_of=as_of,
            alert_command=hook,
        ).resolved()

    crm = tmp_path / "landing" / "crm"
    write(crm / "customers" / "day1.csv", customers())
    write(crm / "transactions" / "day1.csv", purchases())
    assert nightly(settings(DAY1)).ok
    wh = tmp_path / "wh" / "cif.duckdb"
    with duckdb.connect(str(wh), read_only=True) as con:
        marts_before = con.execute("select count(*) from marts.customer_360").fetchone()[0]

    # Day 2: no customers file (a missing source) and a key sent twice with different amounts.
    bad = pd.DataFrame(
        [
            ("d2-1", "c1", "2024-07-01", "10.00"),
            ("d2-1", "c1", "2024-07-01", "99.00"),
            ("d2-2", "c2", "2024-07-01", "5.00"),
        ],
        columns=["transaction_id", "source_customer_id", "occurred_at", "amount"],
    )
    day2 = crm / "transactions" / "day2.csv"
    write(day2, bad)
    failed = nightly(settings(DAY2))
    assert not failed.ok
    blocking = {c.name: c for c in failed.blocking_failures}
    assert "keys_consistent" in blocking
    assert "d2-1 (2 versions in" in blocking["keys_consistent"].description
    warnings = {c.name: c for c in failed.checks if not c.passed and not c.blocking}
    assert (
        "crm/customers: sent no file in the latest load"
        in warnings["volume_and_freshness"].description
    )
    assert "dbt_marts" in failed.skipped_steps and "warehouse_published" in failed.skipped_steps
    (alert,) = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert alert["kind"] == "blocking_check_failed" and alert["run_id"] == failed.run_id
    assert failed.alert.hooks == {"command": "ok"}
    assert "keys_consistent" in failed.report_file.read_text()
    with duckdb.connect(str(wh), read_only=True) as con:  # nothing of day 2 was published
        assert (
            con.execute(
                "select count(*) from raw.canonical__transactions where transaction_id like 'd2-%'"
            ).fetchone()[0]
            == 0
        )
        assert con.execute("select count(*) from marts.customer_360").fetchone()[0] == marts_before

    write(day2, bad.drop_duplicates("transaction_id", keep="last"))  # the corrected file
    fixed = nightly(settings(DAY2))
    assert fixed.ok, fixed.explanation()
    assert fixed.alert is None and len(alerts.read_text().splitlines()) == 1
    with duckdb.connect(str(wh), read_only=True) as con:
        amounts = con.execute(
            "select transaction_id, amount from core.fct_transactions "
            "where transaction_id like 'd2-%' order by 1"
        ).fetchall()
    assert [(t, float(a)) for t, a in amounts] == [("d2-1", 99.0), ("d2-2", 5.0)]
