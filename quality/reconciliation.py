"""Reconciliation of the raw layer: every received row is loaded or quarantined, and every value
ingest refused is in quarantine.rejected_values while its row in raw holds NULL for it (for the
batches whose quarantine detail is still kept: ingest/retention.py)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ingest.sql import quote_ident

RECONCILE_SQL = """
select b.batch_id, b.source_system, b.entity, b.file_path, b.rows_received, b.rows_loaded,
       b.rows_quarantined, coalesce(q.quarantined, 0) as quarantine_rows,
       coalesce(b.values_quarantined, 0) as values_quarantined,
       coalesce(v.quarantined, 0) as quarantine_values
from meta.load_batches b
left join (
    select batch_id, count(*) as quarantined from quarantine.rejected_rows group by batch_id
) q using (batch_id)
left join (
    select batch_id, count(*) as quarantined from quarantine.rejected_values group by batch_id
) v using (batch_id)
where b.status = 'loaded'
  and (b.rows_received != b.rows_loaded + b.rows_quarantined
       or (b.batch_id not in (select batch_id from meta.quarantine_pruned)
           and (b.rows_quarantined != coalesce(q.quarantined, 0)
                or coalesce(b.values_quarantined, 0) != coalesce(v.quarantined, 0))))
"""


@dataclass(frozen=True)
class Mismatch:
    batch_id: int
    source_system: str
    entity: str
    file_path: str
    detail: str

    def __str__(self) -> str:
        return f"batch {self.batch_id} ({self.file_path}): {self.detail}"


@dataclass(frozen=True)
class Reconciliation:
    batches: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def reconcile(con: duckdb.DuckDBPyConnection) -> Reconciliation:
    """Batches whose counts do not add up, whose quarantine rows are missing, or whose rejected
    values are not NULL in raw."""
    batches = con.execute(
        "select count(*) from meta.load_batches where status = 'loaded'"
    ).fetchone()
    mismatches = [
        Mismatch(
            batch_id,
            system,
            entity,
            path,
            f"received {received}, loaded {loaded}, quarantined {quarantined} "
            f"({in_quarantine} rows in quarantine); {values} values quarantined "
            f"({values_in_quarantine} in quarantine)",
        )
        for (
            batch_id,
            system,
            entity,
            path,
            received,
            loaded,
            quarantined,
            in_quarantine,
            values,
            values_in_quarantine,
        ) in con.execute(RECONCILE_SQL).fetchall()
    ]
    in_raw = raw_row_counts(con)
    loaded = con.execute(
        "select batch_id, source_system, entity, file_path, rows_loaded from meta.load_batches "
        "where status = 'loaded'"
    ).fetchall()
    mismatches += [
        Mismatch(
            batch_id,
            system,
            entity,
            path,
            f"rows_loaded {n} but {in_raw.get(batch_id, 0)} rows in raw",
        )
        for batch_id, system, entity, path, n in loaded
        if in_raw.get(batch_id, 0) != n
    ]
    mismatches += rejected_values_not_null(con)
    return Reconciliation(int(batches[0]) if batches else 0, mismatches)


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'"
    ).fetchall()
    return [r[0] for r in rows]


def raw_row_counts(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    """Rows in raw per batch (to compare with meta.load_batches.rows_loaded)."""
    counts: dict[int, int] = {}
    for table in _raw_tables(con):
        for batch_id, n in con.execute(
            f"select _batch_id, count(*) from raw.{quote_ident(table)} group by _batch_id"
        ).fetchall():
            counts[int(batch_id)] = counts.get(int(batch_id), 0) + int(n)
    return counts


def rejected_values_not_null(con: duckdb.DuckDBPyConnection) -> list[Mismatch]:
    """Batches with rejected values whose row is not in raw, or is there with the value."""
    batches = {
        r[0]: r
        for r in con.execute(
            "select batch_id, any_value(source_system), any_value(entity), any_value(file_path), "
            "count(*) from quarantine.rejected_values group by batch_id"
        ).fetchall()
    }
    if not batches:
        return []
    found: dict[int, int] = dict.fromkeys(batches, 0)
    kept: dict[int, int] = dict.fromkeys(batches, 0)
    names = [
        r[0]
        for r in con.execute(
            "select distinct column_name from quarantine.rejected_values"
        ).fetchall()
    ]
    for table in _raw_tables(con):
        columns = _columns(con, table)
        for name in (n for n in names if n.lower() in columns):
            for batch_id, matched, not_null in con.execute(
                f"select v.batch_id, count(*), count(r.{quote_ident(columns[name.lower()])}) "
                f"from quarantine.rejected_values v join raw.{quote_ident(table)} r "
                "on r._batch_id = v.batch_id and r._row_number = v.row_number "
                "where v.column_name = ? group by v.batch_id",
                [name],
            ).fetchall():
                found[batch_id] += matched
                kept[batch_id] += not_null
    return [
        Mismatch(
            *batches[b][:4],
            f"{batches[b][4] - found[b]} rejected values without a row in raw, "
            f"{kept[b]} not NULL in raw",
        )
        for b in batches
        if found[b] != batches[b][4] or kept[b]
    ]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """A raw table's columns by lower-case name (DuckDB names ignore case)."""
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'raw' and table_name = ?",
        [table],
    ).fetchall()
    return {r[0].lower(): r[0] for r in rows}
