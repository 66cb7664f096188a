"""Bad input is part of the spec: every case loads what it can and quarantines the rest."""

import csv
import datetime as dt
import io
import json

import pytest

from ingest.loader import load_landing, summarize
from quality.reconciliation import reconcile

NOW = dt.datetime(2025, 1, 2, 3, 4, 5)
HEADER = "transaction_id,source_customer_id,occurred_at,amount,currency,channel,product\n"
HOSTILE = [
    "'); drop table raw.canonical__transactions; --",
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A9)",
    "@import",
    "Robert'); DROP TABLE students;--",
    "<script>alert(1)</script>",
]


def land(root, name, content, system="shop", entity="transactions"):
    path = root / system / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def loaded(con, column="product"):
    return [
        r[0]
        for r in con.execute(
            f"select {column} from raw.canonical__transactions order by _batch_id, _row_number"
        ).fetchall()
    ]


def test_embedded_newlines_and_quotes_survive(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER
        + 't1,c1,2024-01-01,1,EUR,web,"two\nlines, ""quoted"""\n'
        + "t2,c1,2024-01-02,1,EUR,web,plain\n",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    assert loaded(con) == ['two\nlines, "quoted"', "plain"]


def test_consecutive_ragged_rows_keep_exact_positions(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER
        + "t1,c,2024-01-01,1,EUR,web,x\nbad,1\nbad,2\n"
        + "t4,c,2024-01-01,1,EUR,web,x\nbad,5\nt6,c,2024-01-01,1,EUR,web,x\n",
    )
    load_landing(con, tmp_path, loaded_at=NOW)
    assert loaded(con, "_row_number") == [1, 4, 6]
    rejected = con.execute("select row_number from quarantine.rejected_rows order by 1").fetchall()
    assert [r[0] for r in rejected] == [2, 3, 5]


def test_non_utf8_bytes_in_a_utf8_file_quarantine_the_row_only(tmp_path, con):
    content = (HEADER + "t1,c1,2024-01-01,1,EUR,web,Zoë\n").encode() + (
        b"t2,c1,2024-01-01,1,EUR,web,caf\xe9 cr\xe8me\n"  # latin-1 among UTF-8 rows
        + b"t3,c1,2024-01-01,1,EUR,web,fine\n"
    )
    land(tmp_path, "t.csv", content)
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert result.encoding == "utf-8 (UTF-8 with undecodable rows)"
    reason, row = con.execute("select reason, row_number from quarantine.rejected_rows").fetchone()
    assert "invalid unicode" in reason.lower() or "encoding" in reason.lower()
    assert row == 2
    assert loaded(con) == ["Zoë", "fine"]


def test_a_megabyte_long_field_loads_whole(tmp_path, con):
    big = "x" * 1_500_000
    land(tmp_path, "t.csv", HEADER + f"t1,c1,2024-01-01,1,EUR,web,{big}\n")
    land(
        tmp_path,
        "t.jsonl",
        '{"transaction_id": "t2", "source_customer_id": "c", '
        f'"occurred_at": "2024-01-01", "amount": 2, "product": "{big}"}}\n',
    )
    load_landing(con, tmp_path, loaded_at=NOW)
    assert [len(v) for v in loaded(con)] == [1_500_000, 1_500_000]


def test_duplicate_ids_within_and_across_files_are_all_kept_in_raw(tmp_path, con):
    land(tmp_path, "a.csv", HEADER + "t1,c1,2024-01-01,1,EUR,web,x\nt1,c1,2024-01-01,1,EUR,web,x\n")
    land(tmp_path, "b.csv", HEADER + "t1,c1,2024-01-01,9,EUR,web,corrected\n")
    results = load_landing(con, tmp_path, loaded_at=NOW)
    assert [r.rows_loaded for r in results] == [2, 1]
    assert loaded(con, "amount") == ["1", "1", "9"]  # staging keeps the latest load of t1


def test_future_dated_rows_and_refunds_are_kept(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER + "t1,c1,2030-01-01,5,EUR,web,x\nt2,c1,2024-01-01,-5.00,EUR,web,x\n",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert result.rows_loaded == 2  # the as-of filter belongs to staging, not to ingest
    assert loaded(con, "amount") == ["5", "-5.00"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_hostile_strings_in_every_text_field_are_just_data(tmp_path, con, fmt):
    records = [
        {
            "transaction_id": h,
            "source_customer_id": h,
            "occurred_at": "2024-01-01",
            "amount": "1",
            "currency": "EUR",  # a code with a rate, or the row is quarantined
            "channel": h,
            "product": h,
        }
        for h in HOSTILE
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        land(tmp_path, "t.csv", buffer.getvalue())
    else:
        land(tmp_path, "t.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert result.rows_loaded == len(HOSTILE)
    assert loaded(con) == HOSTILE and loaded(con, "transaction_id") == HOSTILE
    assert reconcile(con).ok


def test_hostile_header_names_are_kept_as_columns(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER.strip()
        + ',"x""; drop table meta.load_batches; --"\n'
        + "t1,c1,2024-01-01,1,EUR,web,p,evil\n",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert result.rows_loaded == 1
    assert 'x"; drop table meta.load_batches; --' in result.schema_drift[0]
    assert con.execute("select count(*) from meta.load_batches").fetchone()[0] == 1


def test_a_renamed_required_column_quarantines_the_file_and_says_so(tmp_path, con):
    land(tmp_path, "t.csv", HEADER.replace("amount", "amt") + "t1,c1,2024-01-01,1,EUR,web,x\n")
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert result.reason == "file lacks required column(s): amount"
    assert result.schema_drift == [
        "new column(s) not kept: the file was rejected: amt",
        "missing column(s): amount",
    ]
    drift = con.execute("select schema_drift from meta.load_batches").fetchone()[0]
    assert "new column(s) not kept: the file was rejected: amt" in drift
    columns = con.execute(
        "select column_name from information_schema.columns "
        "where table_name = 'canonical__transactions'"
    ).fetchall()
    assert "amt" not in {c[0] for c in columns}  # a rejected file leaves raw as it was


CUSTOMERS = "source_customer_id,first_name,date_of_birth,updated_at\n"


def test_a_bad_optional_value_is_nulled_and_recorded_and_the_row_kept(tmp_path, con):
    path = land(
        tmp_path,
        "c.csv",
        CUSTOMERS
        + "c1,Ann,1945-04-93,2024-01-01T10:00:00\n"  # bad birth date: the customer stays
        + "c2,Bob,1950-02-01,not a time\n"
        + ",Cy,1960-13-01,2024-01-01\n",  # no id: the row goes, with every reason
        entity="customers",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert result.values_quarantined == 2
    raw = con.execute(
        "select source_customer_id, date_of_birth, updated_at from raw.canonical__customers "
        "order by 1"
    ).fetchall()
    assert raw == [("c1", None, "2024-01-01T10:00:00"), ("c2", "1950-02-01", None)]
    values = con.execute(
        "select batch_id, file_path, row_number, column_name, original_value, reason "
        "from quarantine.rejected_values order by row_number"
    ).fetchall()
    assert values == [
        (result.batch_id, str(path), 1, "date_of_birth", "1945-04-93", "bad date"),
        (result.batch_id, str(path), 2, "updated_at", "not a time", "bad timestamp"),
    ]
    (reason,) = con.execute("select reason from quarantine.rejected_rows").fetchone()
    assert (
        reason == "missing required field source_customer_id; bad date in date_of_birth: 1960-13-01"
    )
    assert con.execute("select values_quarantined from meta.load_batches").fetchone() == (2,)
    assert summarize([result])["shop"]["values_quarantined"] == 2
    assert reconcile(con).ok
    # The check can fail: a rejected value back in raw, or its row gone, is a mismatch.
    con.execute(
        "update raw.canonical__customers set date_of_birth = '1945-04-93' where source_customer_id = 'c1'"
    )
    (mismatch,) = reconcile(con).mismatches
    assert mismatch.batch_id == result.batch_id and "1 not NULL in raw" in mismatch.detail
    con.execute("delete from raw.canonical__customers where source_customer_id = 'c2'")
    assert len(reconcile(con).mismatches) == 2  # rows_loaded and the orphaned value


def test_columns_named_like_internal_ones_are_just_data(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER.strip()
        + ",_reason,_loaded_at,rowid,_row_number\n"
        + "t1,c1,2024-01-01,1,EUR,web,x,their reason,yesterday,7,99\n"
        + "t2,c1,not a date,1,EUR,web,x,,,8,100\n",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 1, 1)
    row = con.execute(
        "select transaction_id, _reason, src_loaded_at, rowid, src_row_number, _loaded_at, "
        "_row_number from raw.canonical__transactions"
    ).fetchone()
    assert row == ("t1", "their reason", "yesterday", "7", "99", NOW, 1)
    assert con.execute("select row_number, reason from quarantine.rejected_rows").fetchall() == [
        (2, "bad timestamp in occurred_at: not a date")
    ]
    assert (
        "column(s) renamed in raw, their name being taken: _loaded_at -> src_loaded_at, "
        "_row_number -> src_row_number"
    ) in result.schema_drift
    assert reconcile(con).ok


def test_parquet_with_a_column_named_like_duckdbs_own_loads(tmp_path, con):
    import pandas as pd

    path = tmp_path / "erp" / "transactions" / "t.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "transaction_id": ["p1", "p2"],
            "source_customer_id": ["c1", "c2"],
            "occurred_at": ["2024-02-01", "2024-02-02"],
            "amount": ["1.5", "2"],
            "file_row_number": [10, 20],
        }
    ).to_parquet(path)
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded) == ("loaded", 2)
    assert loaded(con, "file_row_number") == ["10", "20"]
    assert loaded(con, "_row_number") == [1, 2]


def test_headers_match_the_layout_regardless_of_case_required_or_not(tmp_path, con):
    land(
        tmp_path,
        "c.csv",
        "Source_Customer_ID, First_Name ,DATE_OF_BIRTH\nc1,Ann,1945-04-93\nc2,Bob,1950-01-02\n",
        entity="customers",
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded, result.values_quarantined) == ("loaded", 2, 1)
    assert result.reason is None and not any("new column" in n for n in result.schema_drift)
    assert con.execute(
        "select source_customer_id, first_name, date_of_birth from raw.canonical__customers "
        "order by 1"
    ).fetchall() == [("c1", "Ann", None), ("c2", "Bob", "1950-01-02")]


def test_two_headers_differing_only_in_case_are_both_kept(tmp_path, con):
    record = {"source_customer_id": "c1", "EMAIL": "A@X.COM", "email": "a@x.com"}
    land(tmp_path, "c.jsonl", json.dumps(record) + "\n", entity="customers")
    land(
        tmp_path,
        "c.csv",
        "source_customer_id,EMAIL,email\nc2,B@X.COM,b@x.com\n",
        entity="customers",
    )
    results = load_landing(con, tmp_path, loaded_at=NOW)
    assert [r.rows_loaded for r in results] == [1, 1]
    # JSON keys: the exact match is the layout's e-mail; DuckDB renames the CSV's second header.
    assert con.execute(
        "select email, src_EMAIL, email_1 from raw.canonical__customers order by _batch_id"
    ).fetchall() == [("B@X.COM", None, "b@x.com"), ("a@x.com", "A@X.COM", None)]


@pytest.mark.parametrize("value", ["-infinity", "infinity", "epoch", "0001-01-01", "2999-01-01"])
def test_implausible_dates_are_quarantined_with_the_reason(tmp_path, con, value):
    land(
        tmp_path,
        "t.csv",
        HEADER + f"t1,c1,{value},1,EUR,web,x\nt2,c1,2024-01-01,1,EUR,web,x\n",
    )
    land(tmp_path, "c.csv", CUSTOMERS + f"c1,Ann,{value},2024-01-01\n", entity="customers")
    results = load_landing(con, tmp_path, loaded_at=NOW)
    assert [(r.rows_loaded, r.rows_quarantined, r.values_quarantined) for r in results] == [
        (1, 0, 1),  # customers: the birth date goes, the customer stays
        (1, 1, 0),  # transactions: a purchase needs its date
    ]
    (reason,) = con.execute("select reason from quarantine.rejected_rows").fetchone()
    (value_reason,) = con.execute("select reason from quarantine.rejected_values").fetchone()
    if value[0].isdigit():
        assert (
            reason
            == f"timestamp outside the plausible window 1900-01-01..2099-12-31 in occurred_at: {value}"
        )
        assert value_reason == "date outside the plausible window 1900-01-01..2099-12-31"
    else:
        assert (reason, value_reason) == (f"bad timestamp in occurred_at: {value}", "bad date")


def test_an_amount_in_an_unknown_currency_is_quarantined(tmp_path, con):
    land(
        tmp_path,
        "t.csv",
        HEADER
        + "t1,c1,2024-01-01,116.22,GBP,web,x\n"
        + "t2,c1,2024-01-01,30000,jpy,web,x\n"
        + "t3,c1,2024-01-01,5,XBT,web,x\n"
        + "t4,c1,2024-01-01,5,,web,x\n",  # no currency: the reporting currency
    )
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (3, 1)
    (reason,) = con.execute("select reason from quarantine.rejected_rows").fetchone()
    assert reason == "unknown currency (no rate in var currency_rates) in currency: XBT"


def test_a_corrected_file_resent_under_the_same_name_supersedes_the_first(tmp_path, con):
    from ingest.layouts import load_layouts
    from quality.monitors import conflicting_keys

    path = land(tmp_path, "day.csv", HEADER + "t1,c1,2024-01-01,10,EUR,web,x\n")
    (first,) = load_landing(con, tmp_path, loaded_at=NOW)
    path.write_text(HEADER + "t1,c1,2024-01-01,12,EUR,web,x\nt2,c1,2024-01-02,3,EUR,web,y\n")
    (second,) = load_landing(con, tmp_path, loaded_at=NOW + dt.timedelta(days=1))
    assert second.supersedes_batch_id == first.batch_id
    assert second.notes == [
        f"re-sent with new content; it supersedes batch {first.batch_id} of the same file "
        "(the later load wins for every key both have)"
    ]
    assert con.execute(
        "select batch_id, supersedes_batch_id from meta.load_batches order by 1"
    ).fetchall() == [(first.batch_id, None), (second.batch_id, first.batch_id)]
    assert conflicting_keys(con, list(load_layouts().values())) == []
    assert loaded(con, "amount") == ["10", "12", "3"]  # both loads kept; staging takes the later
