import datetime as dt

import duckdb

from ingest.layouts import Column, Layout, ValueRules
from ingest.sql import quote_ident
from ingest.validation import checks

RULES = ValueRules(dt.date(1900, 1, 1), dt.date(2099, 12, 31), frozenset({"EUR", "GBP"}))

LAYOUT = Layout(
    source="s",
    entity="e",
    columns=(
        Column("id", required=True),
        Column("day", type="date", format="%d.%m.%Y"),
        Column("amt", type="decimal", decimal_separator=","),
        Column("n", type="integer"),
        Column("flag", type="boolean"),
        Column("ts", type="timestamp"),
        Column("ccy", type="currency"),
    ),
)
NAMES = [c.name for c in LAYOUT.columns]


def evaluate(rows):
    """(row reason, {column: value reason}) per row."""
    con = duckdb.connect()
    con.execute(f"create table t ({', '.join(f'{n} varchar' for n in NAMES)})")
    con.executemany(f"insert into t values ({', '.join('?' for _ in NAMES)})", rows)
    found = checks(LAYOUT, {n: quote_ident(n) for n in NAMES}, RULES)
    values = list(found.value_reasons)
    select = ", ".join([found.row_reason, *found.value_reasons.values()])
    return [
        (r[0], {name: v for name, v in zip(values, r[1:], strict=True) if v})
        for r in con.execute(f"select {select} from t order by rowid").fetchall()
    ]


def reasons(rows):
    return [row for row, _ in evaluate(rows)]


def test_valid_rows_have_no_reason():
    valid = ("1", "31.12.2024", "1.234,56", "7", "yes", "2024-01-01T10:00:00+02:00", "gbp")
    assert evaluate([valid]) == [(None, {})]
    empty = ("2", None, "", None, None, None, None)
    assert evaluate([empty]) == [(None, {})]  # optional and empty is fine


def test_each_broken_value_is_named():
    got = reasons(
        [
            ("", "31.02.2024", "abc", "1.5", "maybe", "yesterday", "EUR"),
        ]
    )[0]
    assert got.split("; ") == [
        "missing required field id",
        "bad date in day: 31.02.2024",
        "bad decimal in amt: abc",
        "bad integer in n: 1.5",
        "bad boolean in flag: maybe",
        "bad timestamp in ts: yesterday",
    ]


def test_a_bad_optional_value_is_named_for_its_column_and_keeps_the_row():
    ((row, values),) = evaluate([("1", "31.02.2024", "abc", "1.5", "maybe", "soon", "EUR")])
    assert row is None
    assert values == {
        "day": "bad date",
        "amt": "bad decimal",
        "n": "bad integer",
        "flag": "bad boolean",
        "ts": "bad timestamp",
    }


def test_an_unknown_currency_rejects_the_row_even_when_optional():
    ((row, values),) = evaluate([("1", None, "5", None, None, None, "XYZ")])
    assert row == "unknown currency (no rate in var currency_rates) in ccy: XYZ"
    assert values == {}


def test_dates_outside_the_plausible_window_and_special_words_are_bad():
    rows = [
        ("1", "01.01.0001", None, None, None, "-infinity", None),
        ("2", "31.12.9999", None, None, None, "infinity", None),
        ("3", "01.01.1899", None, None, None, "epoch", None),
        ("4", "01.01.1900", None, None, None, "0001-01-01T00:00:00", None),
    ]
    window = "outside the plausible window 1900-01-01..2099-12-31"
    assert [values for _, values in evaluate(rows)] == [
        {"day": f"date {window}", "ts": "bad timestamp"},
        {"day": f"date {window}", "ts": "bad timestamp"},
        {"day": f"date {window}", "ts": "bad timestamp"},
        {"ts": f"timestamp {window}"},
    ]


def test_identifiers_from_hostile_headers_are_quoted():
    con = duckdb.connect()
    name = 'x"; drop table t; --'
    con.execute(f"create table t ({quote_ident(name)} varchar)")
    con.execute("insert into t values ('ok')")
    assert con.execute(f"select {quote_ident(name)} from t").fetchall() == [("ok",)]
