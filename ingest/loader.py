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
from ingest.validation import quote_ident, quote_literal, reason_expression

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


def _read_incoming(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[str], int]:
    """Read a file into temp table `_incoming` (all text, `_row_number`), and parse rejects
    into temp table `_parse_rejects(row_number, record, reason)`. Returns (columns, rows)."""
    con.execute("drop table if exists _incoming; drop table if exists _parse_rejects")
    con.execute(
        "create temp table _parse_rejects (row_number bigint, record varchar, reason varchar)"
    )
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        con.execute("create temp table _incoming (_row_number bigint)")
        return [], 0
    if suffix == ".csv":
        columns = _read_csv(con, path)
    elif suffix == ".jsonl":
        columns = _read_jsonl(con, path)
    else:
        con.execute(
            "create temp table _incoming_typed as select * from read_parquet(?, file_row_number = true)",
            [str(path)],
        )
        names = [r[0] for r in con.execute("describe _incoming_typed").fetchall()]
        columns = [n for n in names if n != "file_row_number"]
        select = ", ".join(
            f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in columns
        )
        con.execute(
            f"create temp table _incoming as select {select}, file_row_number + 1 as _row_number "
            "from _incoming_typed"
        )
        con.execute("drop table _incoming_typed")
    row = con.execute("select count(*) from _incoming").fetchone()
    return columns, int(row[0]) if row else 0


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    con.execute(
        "create temp table _incoming_raw as select * from read_csv(?, all_varchar = true, "
        "header = true, store_rejects = true, max_line_size = ?)",
        [str(path), MAX_LINE_BYTES],
    )
    columns = [r[0] for r in con.execute("describe _incoming_raw").fetchall()]
    con.execute(
        "create temp table _incoming as "
        "select *, row_number() over () as _row_number from _incoming_raw"
    )
    con.execute("drop table _incoming_raw")
    con.execute(
        "insert into _parse_rejects select line, any_value(csv_line), "
        "string_agg(distinct lower(error_type) || ': ' || error_message, '; ') "
        "from reject_errors group by line"
    )
    return columns


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    con.execute(
        "create temp table _lines as select line, row_number() over () as _row_number "
        "from read_csv(?, columns = {'line': 'varchar'}, header = false, delim = '\x1f', "
        "quote = '', escape = '', auto_detect = false, max_line_size = ?)",
        [str(path), MAX_LINE_BYTES],
    )
    # json_type() raises on invalid JSON, so it is only asked of valid lines.
    con.execute("alter table _lines add column _object boolean")
    con.execute(
        "update _lines set _object = case when json_valid(line) "
        "then json_type(case when json_valid(line) then line end) = 'OBJECT' else false end"
    )
    con.execute(
        "insert into _parse_rejects select _row_number, line, "
        "case when json_valid(line) then 'json record is not an object' else 'malformed json' end "
        "from _lines where not _object"
    )
    keys = con.execute(
        "select distinct unnest(json_keys(line)) as k from _lines where _object order by k"
    ).fetchall()
    columns = [k[0] for k in keys]
    extracts = [
        f"line ->> {quote_literal('$.' + _json_path_key(c))} as {quote_ident(c)}" for c in columns
    ]
    select = ", ".join([*extracts, "_row_number"])
    con.execute(f"create temp table _incoming as select {select} from _lines where _object")
    con.execute("drop table _lines")
    return columns


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
    columns, parsed_rows = _read_incoming(con, landed.path)
    present = set(columns)
    missing_required = [c for c in layout.required if c not in present]
    if columns:
        result.schema_drift = _schema_drift(layout, columns)
        for extra in (c for c in columns if c not in layout.column_names):
            con.execute(
                f"alter table raw.{quote_ident(layout.raw_table)} "
                f"add column if not exists {quote_ident(extra)} varchar"
            )
    if missing_required and parsed_rows:
        reason = "file lacks required column(s): " + ", ".join(missing_required)
        result.reason = reason
        reason_sql = quote_literal(reason)
    else:
        reason_sql = reason_expression(layout, present)
    con.execute("alter table _incoming add column _reason varchar")
    con.execute(f"update _incoming set _reason = {reason_sql}")
    lineage = {
        "_batch_id": str(batch_id),
        "_source_system": quote_literal(landed.source_system),
        "_source_file": quote_literal(str(landed.path)),
        "_row_number": "_row_number",
        "_loaded_at": f"timestamp {quote_literal(loaded_at.isoformat(sep=' '))}",
    }
    targets = [quote_ident(c) for c in columns] + list(lineage)
    values = [quote_ident(c) for c in columns] + list(lineage.values())
    con.execute(
        f"insert into raw.{quote_ident(layout.raw_table)} ({', '.join(targets)}) "
        f"select {', '.join(values)} from _incoming where _reason is null"
    )
    record_json = (
        "to_json(struct_pack("
        + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
        + "))"
        if columns
        else "null"
    )
    quarantine_prefix = "insert into quarantine.rejected_rows select ?, ?, ?, ?, row_number, record, reason, ? from "
    params = [batch_id, landed.source_system, landed.entity, str(landed.path), loaded_at]
    con.execute(
        quarantine_prefix
        + f"(select _row_number as row_number, {record_json} as record, _reason as reason "
        "from _incoming where _reason is not null)",
        params,
    )
    con.execute(quarantine_prefix + "_parse_rejects", params)
    counts = con.execute(
        "select count(*) filter (where _reason is null), count(*) filter (where _reason is not null) "
        "from _incoming"
    ).fetchone()
    rejects = con.execute("select count(*) from _parse_rejects").fetchone()
    result.rows_loaded = int(counts[0]) if counts else 0
    result.rows_quarantined = (int(counts[1]) if counts else 0) + (
        int(rejects[0]) if rejects else 0
    )
    result.rows_received = result.rows_loaded + result.rows_quarantined


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
