"""Load landed files into the raw layer: every row loaded or quarantined, each file once.

Per file, in one transaction: read every record as text, check it against its layout, append
good records to `raw.<source>__<entity>` with lineage columns, bad ones to
`quarantine.rejected_rows` with the reason, and register the file in `meta.load_batches`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.layouts import Layout, layout_for, load_layouts
from ingest.sql import quote_ident, quote_literal
from ingest.validation import reason_expression

FORMATS = (".csv", ".jsonl", ".parquet")
MAX_LINE_BYTES = 64 * 1024 * 1024
LINEAGE_COLUMNS = {
    "_batch_id": "bigint",
    "_source_system": "varchar",
    "_source_file": "varchar",
    "_row_number": "bigint",
    "_loaded_at": "timestamp",
}

SCHEMA_SQL = """
create schema if not exists meta;
create schema if not exists raw;
create schema if not exists quarantine;
create sequence if not exists meta.batch_id_seq start 1;
create table if not exists meta.load_batches (
    batch_id bigint primary key,
    source_system varchar not null,
    entity varchar not null,
    file_path varchar not null,
    content_hash varchar not null,
    file_format varchar not null,
    status varchar not null,
    rows_received bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    reason varchar,
    schema_drift varchar,
    loaded_at timestamp not null,
    seconds double not null
);
create table if not exists quarantine.rejected_rows (
    batch_id bigint not null,
    source_system varchar not null,
    entity varchar not null,
    file_path varchar not null,
    row_number bigint,
    record varchar,
    reason varchar not null,
    quarantined_at timestamp not null
);
"""


@dataclass(frozen=True)
class LandedFile:
    source_system: str
    entity: str
    path: Path


@dataclass
class BatchResult:
    """What happened to one landed file."""

    source_system: str
    entity: str
    path: Path
    status: str  # loaded | skipped | failed
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    schema_drift: list[str] = field(default_factory=list)
    batch_id: int | None = None
    seconds: float = 0.0


def discover(landing: Path) -> list[LandedFile]:
    """Files in `<landing>/<source_system>/<entity>/`, in a stable order (oldest name first)."""
    found: list[LandedFile] = []
    if not landing.exists():
        return found
    for path in sorted(landing.glob("*/*/*")):
        if path.is_file() and path.suffix.lower() in FORMATS and not path.name.startswith("."):
            source_system, entity = path.parent.parent.name, path.parent.name
            if not source_system.startswith(("_", ".")):
                found.append(LandedFile(source_system, entity, path))
    return found


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the meta, quarantine and raw tables (empty raw tables for every declared layout)."""
    con.execute(SCHEMA_SQL)
    for layout in load_layouts().values():
        _ensure_raw_table(con, layout)


def _ensure_raw_table(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    cols = [f"{quote_ident(c)} varchar" for c in layout.column_names]
    cols += [f"{quote_ident(c)} {t}" for c, t in LINEAGE_COLUMNS.items()]
    con.execute(
        f"create table if not exists raw.{quote_ident(layout.raw_table)} ({', '.join(cols)})"
    )


def already_loaded(con: duckdb.DuckDBPyConnection, content_hash: str) -> bool:
    row = con.execute(
        "select count(*) from meta.load_batches where content_hash = ? and status = 'loaded'",
        [content_hash],
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class _Incoming:
    """What a reader put in temp table `_incoming`: the file's columns (all text), the
    `_reason` each record is rejected for (NULL if none), and how to get its row number."""

    columns: list[str]
    rows: int
    row_number: str = "_row_number"


ReasonFor = Callable[[list[str]], str]


def _read_incoming(con: duckdb.DuckDBPyConnection, path: Path, reason_for: ReasonFor) -> _Incoming:
    """Read a file in one pass into `_incoming`, and rows that cannot even be parsed into
    `_parse_rejects(row_number, record, reason)`."""
    con.execute("drop table if exists _incoming; drop table if exists _parse_rejects")
    con.execute(
        "create temp table _parse_rejects (row_number bigint, record varchar, reason varchar)"
    )
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        con.execute("create temp table _incoming (_row_number bigint, _reason varchar)")
        return _Incoming([], 0)
    if suffix == ".csv":
        incoming = _read_csv(con, path, reason_for)
    elif suffix == ".jsonl":
        incoming = _read_jsonl(con, path, reason_for)
    else:
        incoming = _read_parquet(con, path, reason_for)
    row = con.execute("select count(*) from _incoming").fetchone()
    return _Incoming(incoming.columns, int(row[0]) if row else 0, incoming.row_number)


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, reason_for: ReasonFor) -> _Incoming:
    described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    columns = [r[0] for r in described]
    as_text = ", ".join(f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in columns)
    con.execute(
        f"create temp table _incoming as select *, {reason_for(columns)} as _reason from ("
        f"select {as_text}, file_row_number + 1 as _row_number "
        "from read_parquet(?, file_row_number = true))",
        [str(path)],
    )
    return _Incoming(columns, 0)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, reason_for: ReasonFor) -> _Incoming:
    # store_rejects also makes the sniffer strict: without it a ragged row can be taken
    # for the header.
    options = "all_varchar = true, header = true, max_line_size = ?, store_rejects = true"
    described = con.execute(
        f"describe select * from read_csv(?, {options})", [str(path), MAX_LINE_BYTES]
    ).fetchall()
    columns = [r[0] for r in described]
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    # One parallel pass; insertion order is kept, so rowids give the order of the records.
    con.execute(
        f"create temp table _incoming as select *, {reason_for(columns)} as _reason "
        f"from read_csv(?, {options})",
        [str(path), MAX_LINE_BYTES],
    )
    # DuckDB numbers rejected lines by record, the header being 1.
    con.execute(
        "insert into _parse_rejects select line - 1, any_value(csv_line), "
        "string_agg(distinct lower(error_type) || ': ' || error_message, '; ') "
        "from reject_errors group by line"
    )
    return _Incoming(columns, 0, row_number=_csv_positions(con))


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


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, reason_for: ReasonFor) -> _Incoming:
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
        f"line ->> {quote_literal('$.' + _json_path_key(c))} as {quote_ident(c)}" for c in columns
    ]
    select = ", ".join([*extracts, "_row_number"])
    con.execute(
        f"create temp table _incoming as select *, {reason_for(columns)} as _reason from ("
        f"select {select} from _objects where _object)"
    )
    con.execute("drop table _objects")
    return _Incoming(columns, 0)


def _json_path_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_file(
    con: duckdb.DuckDBPyConnection, landed: LandedFile, loaded_at: dt.datetime
) -> BatchResult:
    """Load one landed file in one transaction; a file that cannot be read is a failed batch."""
    started = time.perf_counter()
    result = BatchResult(landed.source_system, landed.entity, landed.path, status="loaded")
    content_hash = file_hash(landed.path)
    if already_loaded(con, content_hash):
        result.status = "skipped"
        return result
    layout = layout_for(landed.source_system, landed.entity)
    con.execute("begin transaction")
    try:
        batch_id = _next_batch_id(con)
        result.batch_id = batch_id
        if layout is None:
            raise ValueError(
                f"no layout for entity {landed.entity!r} of source system "
                f"{landed.source_system!r}; expected one of: "
                + ", ".join(sorted(e for s, e in load_layouts() if s == landed.source_system))
            )
        _load_records(con, layout, landed, batch_id, loaded_at, result)
        result.seconds = time.perf_counter() - started
        _register_batch(con, result, content_hash, loaded_at)
        con.execute("commit")
    except (duckdb.Error, ValueError, OSError) as exc:
        con.execute("rollback")
        result.status = "failed"
        result.reason = _one_line(exc)
        result.rows_received = result.rows_loaded = result.rows_quarantined = 0
        result.schema_drift = []
        result.batch_id = _next_batch_id(con)
        result.seconds = time.perf_counter() - started
        _register_batch(con, result, content_hash, loaded_at)
    finally:
        con.execute("drop table if exists _incoming; drop table if exists _parse_rejects")
    return result


def _load_records(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    landed: LandedFile,
    batch_id: int,
    loaded_at: dt.datetime,
    result: BatchResult,
) -> None:
    def reason_for(columns: list[str]) -> str:
        missing = [c for c in layout.required if c not in columns]
        if missing:
            result.reason = "file lacks required column(s): " + ", ".join(missing)
            return quote_literal(result.reason)
        return reason_expression(layout, set(columns))

    incoming = _read_incoming(con, landed.path, reason_for)
    columns = incoming.columns
    if columns:
        result.schema_drift = _schema_drift(layout, columns)
        for extra in (c for c in columns if c not in layout.column_names):
            con.execute(
                f"alter table raw.{quote_ident(layout.raw_table)} "
                f"add column if not exists {quote_ident(extra)} varchar"
            )
    lineage = {
        "_batch_id": str(batch_id),
        "_source_system": quote_literal(landed.source_system),
        "_source_file": quote_literal(str(landed.path)),
        "_row_number": incoming.row_number,
        "_loaded_at": f"timestamp {quote_literal(loaded_at.isoformat(sep=' '))}",
    }
    targets = [quote_ident(c) for c in columns] + list(lineage)
    values = [quote_ident(c) for c in columns] + list(lineage.values())
    con.execute(
        f"insert into raw.{quote_ident(layout.raw_table)} ({', '.join(targets)}) "
        f"select {', '.join(values)} from _incoming where _reason is null"
    )
    fields = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
    record_json = f"to_json(struct_pack({fields}))" if columns else "null"
    quarantine = "insert into quarantine.rejected_rows select ?, ?, ?, ?, row_number, record, reason, ? from "
    params = [batch_id, landed.source_system, landed.entity, str(landed.path), loaded_at]
    con.execute(
        quarantine + f"(select {incoming.row_number} as row_number, {record_json} as record, "
        "_reason as reason from _incoming where _reason is not null)",
        params,
    )
    con.execute(quarantine + "_parse_rejects", params)
    row = con.execute(
        "select (select count(*) from _incoming where _reason is null), "
        "(select count(*) from _incoming where _reason is not null), "
        "(select count(*) from _parse_rejects)"
    ).fetchone()
    loaded, rejected, unparsed = (int(x) for x in row) if row else (0, 0, 0)
    result.rows_loaded = loaded
    result.rows_quarantined = rejected + unparsed
    result.rows_received = loaded + rejected + unparsed


def _schema_drift(layout: Layout, columns: list[str]) -> list[str]:
    notes = []
    extra = [c for c in columns if c not in layout.column_names]
    missing = [c for c in layout.column_names if c not in columns]
    if extra:
        notes.append("new column(s) kept in raw: " + ", ".join(extra))
    if missing:
        notes.append("missing column(s): " + ", ".join(missing))
    return notes


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("select nextval('meta.batch_id_seq')").fetchone()
    assert row is not None
    return int(row[0])


def _register_batch(
    con: duckdb.DuckDBPyConnection, result: BatchResult, content_hash: str, loaded_at: dt.datetime
) -> None:
    con.execute(
        "insert into meta.load_batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.batch_id,
            result.source_system,
            result.entity,
            str(result.path),
            content_hash,
            result.path.suffix.lower().lstrip("."),
            result.status,
            result.rows_received,
            result.rows_loaded,
            result.rows_quarantined,
            result.reason,
            "; ".join(result.schema_drift) or None,
            loaded_at,
            result.seconds,
        ],
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def load_landing(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    loaded_at: dt.datetime | None = None,
    on_file: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Load every new file of the landing zone; returns one result per file found."""
    ensure_schema(con)
    loaded_at = loaded_at or dt.datetime.now().replace(microsecond=0)
    results = []
    for landed in discover(landing):
        result = load_file(con, landed, loaded_at)
        results.append(result)
        if on_file:
            on_file(result)
    return results


def summarize(results: Iterable[BatchResult]) -> dict[str, dict[str, int]]:
    """Rows received / loaded / quarantined and files per source system."""
    summary: dict[str, dict[str, int]] = {}
    for r in results:
        s = summary.setdefault(
            r.source_system,
            {"files": 0, "skipped": 0, "failed": 0, "received": 0, "loaded": 0, "quarantined": 0},
        )
        s["files"] += 1
        s["skipped"] += r.status == "skipped"
        s["failed"] += r.status == "failed"
        s["received"] += r.rows_received
        s["loaded"] += r.rows_loaded
        s["quarantined"] += r.rows_quarantined
    return summary
