import datetime as dt
import json
import shutil

import pandas as pd
import pytest

from ingest.loader import discover, load_landing, summarize
from quality.reconciliation import reconcile

NOW = dt.datetime(2025, 1, 2, 3, 4, 5)
HEADER = "transaction_id,source_customer_id,occurred_at,amount,currency,channel,product\n"


def land(root, system, entity, name, text: str | bytes):
    path = root / system / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def counts(con, table):
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_canonical_csv_loads_good_rows_and_quarantines_bad_ones_with_reasons(tmp_path, con):
    land(
        tmp_path,
        "shop",
        "transactions",
        "t1.csv",
        HEADER
        + "t1,c1,2024-05-01,10.50,EUR,web,book\n"
        + "t2,c1,2024-05-02,-3.00,EUR,web,refund\n"  # refunds are legitimate
        + "t3,,2024-05-03,1,EUR,web,x\n"  # missing customer
        + "t4,c2,not a date,1,EUR,web,x\n"
        + "t5,c2,2024-05-04,1O.00,EUR,web,x\n"
        + "t6,c2,2024-05-04,1,EUR,web,x,extra\n"  # ragged
        + 't7,c3,2024-05-05,2,EUR,web,"=HYPERLINK(""http://x"")"\n',
    )
    results = load_landing(con, tmp_path, loaded_at=NOW)
    assert [(r.status, r.rows_received, r.rows_loaded, r.rows_quarantined) for r in results] == [
        ("loaded", 7, 3, 4)
    ]
    raw = con.execute(
        "select transaction_id, amount, product, _source_system, _row_number, _loaded_at "
        "from raw.canonical__transactions order by transaction_id"
    ).fetchall()
    assert [r[:3] for r in raw] == [
        ("t1", "10.50", "book"),
        ("t2", "-3.00", "refund"),
        ("t7", "2", '=HYPERLINK("http://x")'),
    ]
    assert {r[3] for r in raw} == {"shop"} and raw[0][5] == NOW
    assert [r[4] for r in raw] == [1, 2, 7]  # positions count the rejected records too
    positions = con.execute("select row_number from quarantine.rejected_rows order by 1").fetchall()
    assert [p[0] for p in positions] == [3, 4, 5, 6]
    reasons = dict(con.execute("select record, reason from quarantine.rejected_rows").fetchall())
    assert sorted(reasons.values()) == [
        "bad decimal in amount: 1O.00",
        "bad timestamp in occurred_at: not a date",
        "missing required field source_customer_id",
        "too many columns: Expected Number of Columns: 7 Found: 8",
    ]
    assert "t6,c2,2024-05-04,1,EUR,web,x,extra" in reasons
    assert reconcile(con).ok


def test_reloading_the_same_content_changes_nothing_whatever_its_name(tmp_path, con):
    first = land(
        tmp_path, "shop", "transactions", "a.csv", HEADER + "t1,c1,2024-05-01,1,EUR,web,x\n"
    )
    load_landing(con, tmp_path, loaded_at=NOW)
    shutil.copy(first, first.with_name("renamed.csv"))
    again = load_landing(con, tmp_path, loaded_at=NOW)
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert counts(con, "raw.canonical__transactions") == 1
    assert counts(con, "meta.load_batches") == 1


def test_jsonl_and_parquet_load_with_row_numbers(tmp_path, con):
    lines = [
        json.dumps(
            {
                "interaction_id": "i1",
                "source_customer_id": "c1",
                "occurred_at": "2024-01-01T10:00:00Z",
                "channel": "phone",
                "is_complaint": "true",
                "satisfaction": "2",
                "agent": "x",
            }
        ),
        "{not json",
        json.dumps([1, 2]),
        json.dumps(
            {
                "interaction_id": "i2",
                "source_customer_id": "c1",
                "occurred_at": "2024-01-02",
                "channel": "email",
                "satisfaction": "five",
            }
        ),
    ]
    land(tmp_path, "callcentre_x", "interactions", "i.jsonl", "\n".join(lines) + "\n")
    frame = pd.DataFrame(
        {
            "transaction_id": ["p1", "p2"],
            "source_customer_id": ["c1", None],
            "occurred_at": ["2024-02-01", "2024-02-02"],
            "amount": [1.5, 2.0],
        }
    )
    path = tmp_path / "erp" / "transactions" / "t.parquet"
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)
    results = {r.path.suffix: r for r in load_landing(con, tmp_path, loaded_at=NOW)}
    jsonl = results[".jsonl"]
    assert (jsonl.rows_loaded, jsonl.rows_quarantined, jsonl.values_quarantined) == (2, 2, 1)
    assert jsonl.schema_drift[0] == "new column(s) kept in raw: agent"
    assert (results[".parquet"].rows_loaded, results[".parquet"].rows_quarantined) == (1, 1)
    assert con.execute(
        "select agent, satisfaction, _row_number from raw.canonical__interactions order by 3"
    ).fetchall() == [("x", "2", 1), (None, None, 4)]  # a bad optional value: NULL, row kept
    q = con.execute(
        "select row_number, reason from quarantine.rejected_rows where entity = 'interactions' "
        "order by row_number"
    ).fetchall()
    assert q == [(2, "malformed json"), (3, "json record is not an object")]
    assert con.execute(
        "select row_number, column_name, original_value, reason from quarantine.rejected_values"
    ).fetchall() == [(4, "satisfaction", "five", "bad integer")]
    assert reconcile(con).ok


def test_a_file_missing_a_required_column_is_quarantined_whole(tmp_path, con):
    land(tmp_path, "shop", "transactions", "t.csv", "transaction_id,amount\nt1,1\nt2,2\n")
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 2)
    assert result.reason == "file lacks required column(s): source_customer_id, occurred_at"
    assert counts(con, "quarantine.rejected_rows") == 2


def test_unreadable_and_unknown_files_are_failed_batches_and_the_rest_loads(tmp_path, con):
    land(tmp_path, "erp", "transactions", "broken.parquet", b"PAR1 this is not parquet")
    land(tmp_path, "branch", "invoices", "x.csv", "a\n1\n")
    land(tmp_path, "shop", "transactions", "ok.csv", HEADER + "t1,c1,2024-05-01,1,EUR,web,x\n")
    results = {r.path.name: r for r in load_landing(con, tmp_path, loaded_at=NOW)}
    assert results["ok.csv"].status == "loaded"
    assert results["broken.parquet"].status == "failed" and results["broken.parquet"].reason
    assert results["x.csv"].status == "failed"
    assert "no layout for entity 'invoices'" in results["x.csv"].reason
    statuses = dict(con.execute("select file_path, status from meta.load_batches").fetchall())
    assert sorted(statuses.values()) == ["failed", "failed", "loaded"]
    assert summarize(results.values())["erp"]["failed"] == 1


@pytest.mark.parametrize("content", ["", HEADER])
def test_empty_and_header_only_files_load_zero_rows(tmp_path, con, content):
    land(tmp_path, "shop", "transactions", "e.csv", content)
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_received) == ("loaded", 0)


def test_discover_ignores_truth_hidden_and_other_files(tmp_path):
    land(tmp_path, "_truth", "x", "a.csv", "a\n")
    land(tmp_path, "shop", "transactions", ".hidden.csv", "a\n")
    land(tmp_path, "shop", "transactions", "notes.txt", "a\n")
    keep = land(tmp_path, "shop", "transactions", "b.csv", "a\n")
    assert [f.path for f in discover(tmp_path)] == [keep]


def test_demo_branch_files_load_and_reconcile(demo_landing, con):
    results = load_landing(con, demo_landing, loaded_at=NOW)
    assert {(r.source_system, r.entity) for r in results} >= {
        ("branch", "customers"),
        ("branch", "transactions"),
    }
    assert all(r.status == "loaded" for r in results)
    assert sum(r.rows_received for r in results) == sum(
        r.rows_loaded + r.rows_quarantined for r in results
    )
    assert reconcile(con).ok
