"""Read one landed file (CSV, JSON lines, Parquet) in one pass into temp table `_incoming`.

`_incoming` holds the file's columns as text under internal names `s0`, `s1`, ... (in the
file's order), so that no column a source sends (`_reason`, `_loaded_at`, `rowid`, two headers
differing only in case) can collide with a name the loader uses; the caller's checks are
computed in the same pass. Records that cannot even be parsed go to
`_parse_rejects(row_number, record, reason)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.sql import quote_ident, quote_literal

MAX_LINE_BYTES = 64 * 1024 * 1024

# Given the file's column names, the SQL select items computed over s0, s1, ... per record.
ChecksFor = Callable[[list[str]], str]


def source_column(position: int) -> str:
    """The internal name of the file's column at `position` (0-based) in `_incoming`."""
    return f"s{position}"


@dataclass(frozen=True)
class Incoming:
    """The file's column names as read, and the SQL for a record's position in the file."""

    columns: list[str]
    row_number: str


def read_incoming(con: duckdb.DuckDBPyConnection, path: Path, checks_for: ChecksFor) -> Incoming:
    """Read `path` (already UTF-8 for text formats) into `_incoming` and `_parse_rejects`."""
    con.execute("drop table if exists _incoming; drop table if exists _parse_rejects")
    con.execute(
        "create temp table _parse_rejects (row_number bigint, record varchar, reason varchar)"
    )
    if path.stat().st_size == 0:
        con.execute("create temp table _incoming (_row_number bigint, _reason varchar)")
        return Incoming([], "_row_number")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(con, path, checks_for)
    if suffix == ".jsonl":
        return _read_jsonl(con, path, checks_for)
    return _read_parquet(con, path, checks_for)


def _renamed(columns: list[str]) -> str:
    return ", ".join(f"{quote_ident(c)} as {source_column(i)}" for i, c in enumerate(columns))


def _with_checks(columns: list[str], checks_for: ChecksFor, inner: str) -> str:
    items = checks_for(columns)
    return f"select *{', ' + items if items else ''} from ({inner})"


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, checks_for: ChecksFor) -> Incoming:
    described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    columns = [r[0] for r in described]
    as_text = ", ".join(
        f"cast({quote_ident(c)} as varchar) as {source_column(i)}" for i, c in enumerate(columns)
    )
    # Insertion order is kept, so rowids give the order of the records (as for CSV).
    inner = f"select {as_text} from read_parquet({quote_literal(str(path))})"
    con.execute(f"create temp table _incoming as {_with_checks(columns, checks_for, inner)}")
    return Incoming(columns, _ordinal(con, "_incoming"))


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, checks_for: ChecksFor) -> Incoming:
    # store_rejects also makes the sniffer strict: without it a ragged row can be taken
    # for the header.
    options = "all_varchar = true, header = true, max_line_size = ?, store_rejects = true"
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    # One sniff and one parallel pass (a `describe` first sniffed every file twice, 1.0 of the
    # 2,000 demo's 5.5 s of ingest); insertion order is kept, so rowids give the order of the
    # records.
    con.execute(
        f"create temp table _parsed as select * from read_csv(?, {options})",
        [str(path), MAX_LINE_BYTES],
    )
    columns = [r[0] for r in con.execute("describe _parsed").fetchall()]
    inner = f"select {_renamed(columns)} from _parsed"
    con.execute(f"create temp table _incoming as {_with_checks(columns, checks_for, inner)}")
    con.execute("drop table _parsed")
    # DuckDB numbers rejected lines by record, the header being 1.
    con.execute(
        "insert into _parse_rejects select line - 1, any_value(csv_line), "
        "string_agg(distinct lower(error_type) || ': ' || error_message, '; ') "
        "from reject_errors group by line"
    )
    return Incoming(columns, _csv_positions(con))


def _csv_positions(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for each parsed record's position in the file, counting the rejected ones too.

    The k-th parsed record sits after every rejected record i (i-th by position r_i) with
    r_i - i < k, so its position is k plus the number of those.
    """
    ordinal = _ordinal(con, "_incoming")
    row = con.execute("select count(*) from _parse_rejects").fetchone()
    if not row or not row[0]:
        return ordinal
    con.execute(
        "create temp table _positioned as "
        "with numbered as (select row_number - row_number() over (order by row_number) "
        "as parsed_before, row_number() over (order by row_number) as rejected_so_far "
        "from _parse_rejects), "
        "rejects as (select parsed_before, max(rejected_so_far) as rejected_so_far "
        "from numbered group by parsed_before) "
        f"select i.* exclude (_ordinal), i._ordinal + coalesce(r.rejected_so_far, 0) as _position "
        f"from (select *, {ordinal} as _ordinal from _incoming) i "
        "asof left join rejects r on i._ordinal > r.parsed_before"
    )
    con.execute("drop table _incoming")
    con.execute("alter table _positioned rename to _incoming")
    return "_position"


def _ordinal(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL for a record's 1-based position in a temp table filled by one insert, in order.

    Rowids follow insertion order but do not start at 0 inside a transaction."""
    row = con.execute(f"select min(rowid) from {table}").fetchone()
    first = int(row[0]) if row and row[0] is not None else 0
    return f"(rowid - {first} + 1)"


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, checks_for: ChecksFor) -> Incoming:
    con.execute(
        "create temp table _lines as select line "
        "from read_csv(?, columns = {'line': 'varchar'}, header = false, delim = '\x1f', "
        "quote = '', escape = '', auto_detect = false, max_line_size = ?)",
        [str(path), MAX_LINE_BYTES],
    )
    # json_type() raises on invalid JSON, so it is only asked of valid lines.
    con.execute(
        f"create temp table _objects as select line, {_ordinal(con, '_lines')} as _row_number, "
        "case when json_valid(line) then json_type(case when json_valid(line) then line end) "
        "= 'OBJECT' else false end as _object from _lines"
    )
    con.execute("drop table _lines")
    con.execute(
        "insert into _parse_rejects select _row_number, line, "
        "case when json_valid(line) then 'json record is not an object' else 'malformed json' end "
        "from _objects where not _object"
    )
    keys = con.execute(
        "select distinct unnest(json_keys(line)) as k from _objects where _object order by k"
    ).fetchall()
    columns = [k[0] for k in keys]
    extracts = [
        f"line ->> {quote_literal('$.' + _json_path_key(c))} as {source_column(i)}"
        for i, c in enumerate(columns)
    ]
    inner = f"select {', '.join([*extracts, '_row_number'])} from _objects where _object"
    con.execute(f"create temp table _incoming as {_with_checks(columns, checks_for, inner)}")
    con.execute("drop table _objects")
    return Incoming(columns, "_row_number")


def _json_path_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
