import datetime as dt
import json
import shutil
import threading
import time

import duckdb
import pandas as pd
import pytest

from ingest.lanes import group_into_lanes, run_in_lanes
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


def _contents(con) -> dict[str, list[tuple]]:
    """Every loaded row, batch and quarantined record, in a stable order."""
    tables = [
        f"raw.{name}"
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    ] + ["quarantine.rejected_rows", "quarantine.rejected_values"]
    found = {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    found["meta.load_batches"] = con.execute(
        "select * exclude (seconds) from meta.load_batches order by batch_id"
    ).fetchall()
    return found


def test_files_of_different_tables_load_side_by_side_as_they_would_one_by_one(
    tmp_path, demo_landing
):
    """Two lanes load what one lane loads, under the same batch ids: the demo's files, the
    CDNOW sample (lifetimes) split over two files of one table, and hostile files."""
    from tests.test_cdnow import land_cdnow

    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing)
    land_cdnow(landing)
    cdnow = landing / "cdnow" / "transactions" / "cdnow_sample.csv"
    lines = cdnow.read_text().splitlines(keepends=True)
    land(landing, "cdnow", "transactions", "cdnow_late.csv", lines[0] + "".join(lines[-500:]))
    cdnow.write_text("".join(lines[:-500]))
    drift = HEADER.replace("\n", ",loyalty_tier\n") + "t1,c1,2024-05-01,1,EUR,web,x,gold\n"
    land(landing, "shop", "transactions", "drift.csv", drift)
    land(landing, "shop", "transactions", "bad.csv", HEADER + "t2,c1,never,1O,EUR,web,x\n")
    land(landing, "erp", "transactions", "broken.parquet", b"PAR1 this is not parquet")
    land(landing, "zz", "transactions", "drift_again.csv", drift)  # same bytes, other path
    found = [f.path for f in discover(landing)]

    by_lanes = {}
    for lanes in (1, 2):
        with duckdb.connect(str(tmp_path / f"lanes{lanes}.duckdb")) as con:
            results = load_landing(con, landing, loaded_at=NOW, lanes=lanes)
            assert [r.path for r in results] == found  # in the order found, whatever the lane
            by_lanes[lanes] = (results, _contents(con))

    (one, one_rows), (two, two_rows) = by_lanes[1], by_lanes[2]
    assert [r.batch_id for r in two if r.status != "skipped"] == list(range(1, len(found)))
    assert [(r.path.name, r.status, r.batch_id, r.rows_loaded) for r in two] == [
        (r.path.name, r.status, r.batch_id, r.rows_loaded) for r in one
    ]
    assert two_rows == one_rows
    statuses = {r.path.name: r.status for r in two}
    assert (statuses["broken.parquet"], statuses["drift_again.csv"]) == ("failed", "skipped")
    with duckdb.connect(str(tmp_path / "lanes2.duckdb")) as con:
        assert counts(con, "raw.canonical__transactions where _source_system = 'cdnow'") == (
            len(lines) - 1
        )
    assert sum(r.rows_received for r in two) == sum(r.rows_loaded + r.rows_quarantined for r in two)


def test_lanes_keep_items_that_share_a_key_together_and_in_order():
    keys = [("a", 1), ("b", 2), ("a", 3), ("c", 2), ("d", 4), ("e", 3)]
    assert group_into_lanes(keys) == [[0, 2, 5], [1, 3], [4]]


def test_an_error_in_one_lane_stops_the_others_before_their_next_item():
    running, raised, started = threading.Event(), threading.Event(), []

    def work(item: int) -> int:
        started.append(item)
        if item == 0:
            running.wait(5)  # the other lane is inside its first item
            raised.set()
            raise ValueError("file 0 broke")
        running.set()
        raised.wait(5)
        time.sleep(0.2)  # the failing lane has stopped everything by now
        return item

    with pytest.raises(ValueError, match="file 0 broke"):
        run_in_lanes(list(range(6)), [[0], [1, 2, 3, 4, 5]], work, workers=2)
    assert sorted(started) == [0, 1]
    assert run_in_lanes([5, 6, 7], [[2], [0, 1]], lambda x: x * 10, workers=2) == [50, 60, 70]
