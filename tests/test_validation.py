import duckdb

from ingest.layouts import Column, Layout
from ingest.sql import quote_ident
from ingest.validation import reason_expression

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
    ),
)


def reasons(rows):
    con = duckdb.connect()
    con.execute(
        "create table t (id varchar, day varchar, amt varchar, n varchar, flag varchar, ts varchar)"
    )
    con.executemany("insert into t values (?, ?, ?, ?, ?, ?)", rows)
    expr = reason_expression(LAYOUT, {c.name for c in LAYOUT.columns})
    return [r[0] for r in con.execute(f"select {expr} from t order by rowid").fetchall()]


def test_valid_rows_have_no_reason():
    assert reasons([("1", "31.12.2024", "1.234,56", "7", "yes", "2024-01-01T10:00:00+02:00")]) == [
        None
    ]
    assert reasons([("2", None, "", None, None, None)]) == [None]  # optional and empty is fine


def test_each_broken_value_is_named():
    got = reasons(
        [
            ("", "31.02.2024", "abc", "1.5", "maybe", "yesterday"),
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


def test_identifiers_from_hostile_headers_are_quoted():
    con = duckdb.connect()
    name = 'x"; drop table t; --'
    con.execute(f"create table t ({quote_ident(name)} varchar)")
    con.execute("insert into t values ('ok')")
    assert con.execute(f"select {quote_ident(name)} from t").fetchall() == [("ok",)]
