"""Bad input is part of the spec: every case loads what it can and quarantines the rest."""

import csv
import datetime as dt
import io
import json

import pytest

from ingest.loader import load_landing
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


def test_non_utf8_bytes_quarantine_the_row_only(tmp_path, con):
    content = (HEADER + "t1,c1,2024-01-01,1,EUR,web,ok\n").encode() + (
        b"t2,c1,2024-01-01,1,EUR,web,caf\xe9 cr\xe8me\n"  # latin-1
        + b"t3,c1,2024-01-01,1,EUR,web,fine\n"
    )
    land(tmp_path, "t.csv", content)
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    reason, row = con.execute("select reason, row_number from quarantine.rejected_rows").fetchone()
    assert "invalid unicode" in reason.lower() or "encoding" in reason.lower()
    assert row == 2


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
        HEADER + "t1,c1,2999-01-01,5,EUR,web,x\nt2,c1,2024-01-01,-5.00,EUR,web,x\n",
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
            "currency": h,
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
    assert result.schema_drift == ["new column(s) kept in raw: amt", "missing column(s): amount"]
    drift = con.execute("select schema_drift from meta.load_batches").fetchone()[0]
    assert "new column(s) kept in raw: amt" in drift
