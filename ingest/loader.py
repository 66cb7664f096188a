"""Load landed files into the raw layer: every row loaded or quarantined, each file once.

Per file, in one transaction: find its encoding (ingest/decoding.py), read every record as text
(ingest/readers.py), match its columns to the layout and check them (ingest/columns.py,
ingest/validation.py), append good records to `raw.<source>__<entity>` with lineage columns,
bad ones to `quarantine.rejected_rows` with the reason, and register the file in
`meta.load_batches`. A bad optional value does not cost its record: raw gets NULL for it and
`quarantine.rejected_values` the original text with its reason, so that raw plus the quarantine
always give back what was received, and staging never sees a value ingest refused.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.columns import LINEAGE_COLUMNS, ColumnPlan, plan_columns, schema_drift
from ingest.decoding import FileFacts, file_digest, inspect_file, utf8_copy
from ingest.lanes import group_into_lanes, run_in_lanes
from ingest.layouts import Layout, layout_for, load_layouts
from ingest.readers import Incoming, read_incoming, source_column
from ingest.sql import quote_ident, quote_literal
from ingest.warehouse import relation_exists

__all__ = ["LINEAGE_COLUMNS", "SUMMARY_COLUMNS", "BatchResult", "LandedFile", "discover"]

FORMATS = (".csv", ".jsonl", ".parquet")
# Lanes of files loading side by side. Two: every DuckDB statement already runs on all cores;
# the second lane fills the planning time of small files' statements (ingest/lanes.py).
LANES = 2

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
alter table meta.load_batches add column if not exists values_quarantined bigint default 0;
alter table meta.load_batches add column if not exists encoding varchar;
alter table meta.load_batches add column if not exists supersedes_batch_id bigint;
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
create table if not exists meta.quarantine_pruned (
    batch_id bigint not null,
    pruned_at timestamp not null
);
create table if not exists quarantine.rejected_values (
    batch_id bigint not null,
    source_system varchar not null,
    entity varchar not null,
    file_path varchar not null,
    row_number bigint not null,
    column_name varchar not null,
    original_value varchar,
    reason varchar not null,
    quarantined_at timestamp not null
);
"""


@dataclass(frozen=True)
class LandedFile:
    source_system: str
    entity: str
    path: Path

    @property
    def is_text(self) -> bool:
        """CSV and JSON lines are text (their encoding is found); Parquet is binary."""
        return self.path.suffix.lower() != ".parquet"


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
    values_quarantined: int = 0
    reason: str | None = None
    schema_drift: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    batch_id: int | None = None
    encoding: str | None = None
    supersedes_batch_id: int | None = None
    seconds: float = 0.0

    @property
    def warnings(self) -> list[str]:
        """What a person should know about this file: schema drift, a re-sent file."""
        return [f"schema drift in {self.path}: {n}" for n in self.schema_drift] + [
            f"{self.path}: {n}" for n in self.notes
        ]


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


def already_loaded_files(con: duckdb.DuckDBPyConnection, landing: Path) -> list[LandedFile]:
    """The landed files whose content a loaded batch already holds: a run would skip them.
    Reads every landed file once (its hash), as a run's ingest does; `con` may be read-only."""
    if not relation_exists(con, "meta", "load_batches"):
        return []
    loaded = _loaded_hashes(con)
    return [landed for landed in discover(landing) if file_digest(landed.path)[0] in loaded]


def _loaded_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The content hashes of every batch loaded so far."""
    query = "select distinct content_hash from meta.load_batches where status = 'loaded'"
    return {row[0] for row in con.execute(query).fetchall()}


def load_file(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    loaded_at: dt.datetime,
    content_hash: str | None = None,
    batch_id: int | None = None,
) -> BatchResult:
    """Load one landed file in one transaction; a file that cannot be read is a failed batch.
    `content_hash` and `batch_id` are the caller's when it has them (load_landing)."""
    started = time.perf_counter()
    result = BatchResult(landed.source_system, landed.entity, landed.path, status="loaded")
    layout = layout_for(landed.source_system, landed.entity)
    # A file loaded before is known by its hash alone: most files of a night are (the whole
    # landing zone is listed every night), and a full inspection costs four times the hash.
    content_hash = content_hash or file_digest(landed.path)[0]
    if already_loaded(con, content_hash):
        result.status = "skipped"
        return result
    text = landed.is_text
    facts = inspect_file(landed.path, text, layout.encoding if layout else None, content_hash)
    result.encoding = facts.label if text else None
    # Drawn outside the transaction: a sequence does not roll back, and a failed file is
    # registered under the same id.
    result.batch_id = batch_id if batch_id is not None else _next_batch_ids(con, 1)[0]
    con.execute("begin transaction")
    try:
        if layout is None:
            raise ValueError(
                f"no layout for entity {landed.entity!r} of source system "
                f"{landed.source_system!r}; expected one of: "
                + ", ".join(sorted(e for s, e in load_layouts() if s == landed.source_system))
            )
        if facts.unreadable:
            raise ValueError(facts.unreadable)
        _note_resend(con, landed, result)
        with tempfile.TemporaryDirectory(prefix="cif-ingest-") as folder:
            readable = (
                landed.path if facts.readable_as_is else utf8_copy(landed.path, facts, Path(folder))
            )
            _load_records(con, layout, landed, readable, loaded_at, result)
        result.seconds = time.perf_counter() - started
        _register_batch(con, result, facts, loaded_at)
        con.execute("commit")
    except (duckdb.Error, ValueError, OSError) as exc:
        con.execute("rollback")
        _fail(result, exc)
        result.seconds = time.perf_counter() - started
        _register_batch(con, result, facts, loaded_at)
    finally:
        con.execute("drop table if exists _incoming; drop table if exists _parse_rejects")
    return result


def _fail(result: BatchResult, exc: BaseException) -> None:
    result.status = "failed"
    result.reason = _one_line(exc)
    result.rows_received = result.rows_loaded = result.rows_quarantined = 0
    result.values_quarantined = 0
    result.schema_drift = []
    result.notes = []
    result.supersedes_batch_id = None


def _note_resend(con: duckdb.DuckDBPyConnection, landed: LandedFile, result: BatchResult) -> None:
    """A file loaded before under the same path with other content is a correction: where
    both loads have a record with the same key (and business time), the later load wins."""
    row = con.execute(
        "select max(batch_id) from meta.load_batches where file_path = ? and status = 'loaded'",
        [str(landed.path)],
    ).fetchone()
    if row and row[0] is not None:
        result.supersedes_batch_id = int(row[0])
        result.notes.append(
            f"re-sent with new content; it supersedes batch {row[0]} of the same file "
            "(the later load wins for every key both have)"
        )


def _load_records(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    landed: LandedFile,
    readable: Path,
    loaded_at: dt.datetime,
    result: BatchResult,
) -> None:
    plans: list[ColumnPlan] = []

    def checks_for(columns: list[str]) -> str:
        plans.append(plan_columns(layout, columns))
        return plans[-1].select_items()

    incoming = read_incoming(con, readable, checks_for)
    plan = plans[-1] if plans else ColumnPlan([])  # an empty file: nothing to check
    result.reason = plan.file_reason
    result.schema_drift = schema_drift(layout, plan) if plan.columns else []
    if not plan.file_reason:  # a file rejected whole adds nothing to raw, not even columns
        _append_to_raw(con, layout, plan, incoming, landed, loaded_at, result)
    params = [result.batch_id, landed.source_system, landed.entity, str(landed.path), loaded_at]
    _quarantine(con, plan, incoming, params)
    _count(con, result)


def _append_to_raw(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    plan: ColumnPlan,
    incoming: Incoming,
    landed: LandedFile,
    loaded_at: dt.datetime,
    result: BatchResult,
) -> None:
    table = f"raw.{quote_ident(layout.raw_table)}"
    for extra in plan.extra:
        con.execute(f"alter table {table} add column if not exists {quote_ident(extra)} varchar")
    lineage = {
        "_batch_id": str(result.batch_id),
        "_source_system": quote_literal(landed.source_system),
        "_source_file": quote_literal(str(landed.path)),
        "_row_number": incoming.row_number,
        "_loaded_at": f"timestamp {quote_literal(loaded_at.isoformat(sep=' '))}",
    }
    targets = [quote_ident(c) for c in plan.raw_names] + list(lineage)
    values = [plan.raw_value(i) for i in range(len(plan.columns))] + list(lineage.values())
    con.execute(
        f"insert into {table} ({', '.join(targets)}) "
        f"select {', '.join(values)} from _incoming where _reason is null"
    )


def _quarantine(
    con: duckdb.DuckDBPyConnection, plan: ColumnPlan, incoming: Incoming, params: list
) -> None:
    """Rejected records to quarantine.rejected_rows, rejected values to rejected_values."""
    fields = ", ".join(
        f"{quote_literal(c)}, {source_column(i)}" for i, c in enumerate(plan.columns)
    )
    record = f"json_object({fields})" if plan.columns else "null"
    rows = (
        "insert into quarantine.rejected_rows "
        "select ?, ?, ?, ?, row_number, record, reason, ? from "
    )
    con.execute(
        rows + f"(select {incoming.row_number} as row_number, {record} as record, "
        "_reason as reason from _incoming where _reason is not null)",
        params,
    )
    con.execute(rows + "_parse_rejects", params)
    if plan.file_reason or not plan.value_checks:
        return
    values = " union all ".join(
        f"select {incoming.row_number}, {quote_literal(name)}, {source_column(i)}, _v{i} "
        f"from _incoming where _reason is null and _v{i} is not null"
        for i, name, _ in plan.value_checks
    )
    con.execute(
        f"insert into quarantine.rejected_values select ?, ?, ?, ?, v.*, ? from ({values}) as v",
        params,
    )


def _count(con: duckdb.DuckDBPyConnection, result: BatchResult) -> None:
    row = con.execute(
        "select (select count(*) from _incoming where _reason is null), "
        "(select count(*) from _incoming where _reason is not null), "
        "(select count(*) from _parse_rejects), "
        "(select count(*) from quarantine.rejected_values where batch_id = ?)",
        [result.batch_id],
    ).fetchone()
    loaded, rejected, unparsed, values = (int(x) for x in row) if row else (0, 0, 0, 0)
    result.rows_loaded = loaded
    result.rows_quarantined = rejected + unparsed
    result.rows_received = loaded + rejected + unparsed
    result.values_quarantined = values


def _next_batch_ids(con: duckdb.DuckDBPyConnection, count: int) -> list[int]:
    rows = con.execute(
        "select nextval('meta.batch_id_seq') as id from range(?) order by id", [count]
    ).fetchall()
    return [int(r[0]) for r in rows]


BATCH_COLUMNS = (
    "batch_id, source_system, entity, file_path, content_hash, file_format, status, "
    "rows_received, rows_loaded, rows_quarantined, values_quarantined, reason, schema_drift, "
    "encoding, supersedes_batch_id, loaded_at, seconds"
)


def _register_batch(
    con: duckdb.DuckDBPyConnection,
    result: BatchResult,
    facts: FileFacts,
    loaded_at: dt.datetime,
) -> None:
    values = [
        result.batch_id,
        result.source_system,
        result.entity,
        str(result.path),
        facts.content_hash,
        result.path.suffix.lower().lstrip("."),
        result.status,
        result.rows_received,
        result.rows_loaded,
        result.rows_quarantined,
        result.values_quarantined,
        result.reason,
        "; ".join(result.schema_drift) or None,
        result.encoding,
        result.supersedes_batch_id,
        loaded_at,
        result.seconds,
    ]
    placeholders = ", ".join("?" for _ in values)
    con.execute(f"insert into meta.load_batches ({BATCH_COLUMNS}) values ({placeholders})", values)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def load_landing(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    loaded_at: dt.datetime | None = None,
    on_file: Callable[[BatchResult], None] | None = None,
    lanes: int = LANES,
) -> list[BatchResult]:
    """Load every new file of the landing zone; returns one result per file found, in the
    order found. Files of different raw tables load side by side on `lanes` connections
    (ingest/lanes.py); batch ids follow the order found all the same, so a night's ids do not
    depend on which lane finished first. `on_file` is called on this thread for each file."""
    ensure_schema(con)
    loaded_at = loaded_at or dt.datetime.now().replace(microsecond=0)
    files = discover(landing)
    hashes = [file_digest(landed.path)[0] for landed in files]
    loaded_before = _loaded_hashes(con)
    new = {i for i, content_hash in enumerate(hashes) if content_hash not in loaded_before}
    ids = iter(_next_batch_ids(con, len(new)))
    batch_ids = [next(ids) if i in new else None for i in range(len(files))]
    # Two files of one raw table, or with the same content, never load at once.
    keys = [(_raw_table_of(landed), hashes[i]) for i, landed in enumerate(files)]
    local = threading.local()
    lane_cons: list[duckdb.DuckDBPyConnection] = []

    def load(i: int) -> BatchResult:
        if i not in new:  # known by its hash; same content twice in one night: load_file skips
            return BatchResult(
                files[i].source_system, files[i].entity, files[i].path, status="skipped"
            )
        if not hasattr(local, "con"):  # one connection (own temp tables) per lane thread
            local.con = con.cursor()
            lane_cons.append(local.con)
        return load_file(local.con, files[i], loaded_at, hashes[i], batch_ids[i])

    try:
        return run_in_lanes(list(range(len(files))), group_into_lanes(keys), load, lanes, on_file)
    finally:
        for lane_con in lane_cons:
            lane_con.close()


def _raw_table_of(landed: LandedFile) -> str:
    layout = layout_for(landed.source_system, landed.entity)
    return layout.raw_table if layout else f"{landed.source_system}/{landed.entity}"


# What the run summary and the quality report show per source: key -> column heading.
SUMMARY_COLUMNS = {
    "files": "files",
    "skipped": "skipped",
    "failed": "failed",
    "received": "rows received",
    "loaded": "rows loaded",
    "quarantined": "rows quarantined",
    "values_quarantined": "values quarantined",
}


def summarize(results: Iterable[BatchResult]) -> dict[str, dict[str, int]]:
    """Files, and rows received / loaded / quarantined and values quarantined, per source."""
    summary: dict[str, dict[str, int]] = {}
    for r in results:
        s = summary.setdefault(r.source_system, dict.fromkeys(SUMMARY_COLUMNS, 0))
        s["files"] += 1
        s["skipped"] += r.status == "skipped"
        s["failed"] += r.status == "failed"
        s["received"] += r.rows_received
        s["loaded"] += r.rows_loaded
        s["quarantined"] += r.rows_quarantined
        s["values_quarantined"] += r.values_quarantined
    return summary
