"""Files as other tools write them: Windows-1252, byte-order marks, CRLF and mixed line ends,
UTF-16. Each loads with its accents intact, or fails with a message naming the encoding."""

import codecs
import datetime as dt
import json

import pytest

from ingest.decoding import inspect_file
from ingest.loader import load_landing
from quality.reconciliation import reconcile

NOW = dt.datetime(2025, 1, 2, 3, 4, 5)
HEADER = "source_customer_id,first_name,last_name,city\n"
ROWS = [
    ("c1", "José", "Müller", "Köln"),
    ("c2", "Zoë", "Ångström", "Malmö"),
    ("c3", "Ann", "Lee", "York"),
    ("c4", "François", "Señor", "Besançon"),
]
TEXT = HEADER + "".join(",".join(r) + "\n" for r in ROWS)


def land(root, name, content: bytes, system="crm", entity="customers"):
    path = root / system / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def names(con):
    return con.execute(
        "select source_customer_id, first_name, last_name, city, _row_number "
        "from raw.canonical__customers order by _row_number"
    ).fetchall()


EXPECTED = [(*r, i) for i, r in enumerate(ROWS, start=1)]


@pytest.mark.parametrize(
    ("name", "content", "encoding"),
    [
        ("cp1252.csv", TEXT.replace("Besançon", "Besançon €").encode("cp1252"), "cp1252"),
        ("bom.csv", codecs.BOM_UTF8 + TEXT.encode(), "utf-8"),
        ("crlf.csv", TEXT.replace("\n", "\r\n").encode(), "utf-8"),
        ("mixed.csv", TEXT.replace("\n", "\r\n", 2).encode(), "utf-8"),
        (
            "excel.csv",
            codecs.BOM_UTF16_LE + TEXT.replace("\n", "\r\n").encode("utf-16-le"),
            "utf-16-le",
        ),
        ("big_endian.csv", codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        ("no_mark.csv", TEXT.encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_text_files_load_whatever_their_encoding_and_line_ends(
    tmp_path, con, name, content, encoding
):
    land(tmp_path, name, content)
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 4, 0)
    assert result.encoding.startswith(encoding + " (")
    expected = [
        r if r[0] != "c4" or name != "cp1252.csv" else (*r[:3], "Besançon €", 4) for r in EXPECTED
    ]
    assert names(con) == expected
    assert reconcile(con).ok


def test_a_declared_encoding_wins_over_detection(tmp_path):
    path = land(tmp_path, "x.csv", "id\nŁódź\n".encode("cp1250"))
    assert inspect_file(path, text=True).encoding == "cp1252"  # the undeclared default
    facts = inspect_file(path, text=True, declared="cp1250")
    assert (facts.encoding, facts.detected_by) == ("cp1250", "declared in the layout")


def test_jsonl_with_a_bom_and_mixed_line_ends_loads(tmp_path, con):
    lines = [
        json.dumps(
            {"source_customer_id": r[0], "first_name": r[1], "last_name": r[2], "city": r[3]},
            ensure_ascii=False,
        )
        for r in ROWS
    ]
    text = lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r\n" + lines[3] + "\n"
    land(tmp_path, "c.jsonl", codecs.BOM_UTF8 + text.encode())
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 4, 0)
    assert names(con) == EXPECTED


def test_a_utf16_file_with_an_odd_byte_fails_naming_its_encoding(tmp_path, con):
    land(tmp_path, "broken.csv", codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le") + b"\x41")
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert result.status == "failed"
    assert result.reason.startswith("broken.csv is not valid utf-16-le (byte-order mark)")
    assert con.execute("select count(*) from raw.canonical__customers").fetchone()[0] == 0


def test_nul_bytes_that_are_not_utf16_fail_with_a_message_naming_the_encodings(tmp_path, con):
    land(tmp_path, "u32.csv", TEXT.encode("utf-32-le"))
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert result.status == "failed"
    assert "neither UTF-8 nor UTF-16" in result.reason and "UTF-32" in result.reason


def test_utf32_with_a_byte_order_mark_loads(tmp_path, con):
    land(tmp_path, "u32.csv", codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"))
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.status, result.rows_loaded) == ("loaded", 4)
    assert names(con) == EXPECTED


def test_windows_1252_bytes_it_leaves_undefined_still_load(tmp_path, con):
    land(tmp_path, "c.csv", HEADER.encode() + b"c1,Ren\xe9e,O\x81Neil,Paris\n")
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.encoding) == (1, "cp1252 (not UTF-8: the fallback)")
    assert names(con)[0][1:3] == ("Renée", "O\x81Neil")


def test_curly_quotes_after_accents_do_not_pass_for_utf8(tmp_path, con):
    quote, dash = "\u2019", "\u2013"  # in Windows-1252: 92 and 96, UTF-8 continuation bytes
    text = HEADER + f"c1,René{quote}s,Ça{dash}va,Zürich\nc2,Zoë,Ångström,Malmö\n"
    land(tmp_path, "c.csv", text.encode("cp1252"))  # é then the quote: E9 92, no UTF-8
    (result,) = load_landing(con, tmp_path, loaded_at=NOW)
    assert (result.rows_loaded, result.encoding) == (2, "cp1252 (not UTF-8: the fallback)")
    assert [r[1:4] for r in names(con)] == [
        (f"René{quote}s", f"Ça{dash}va", "Zürich"),
        ("Zoë", "Ångström", "Malmö"),
    ]
