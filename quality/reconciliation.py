"""Row-count reconciliation of the raw layer: every received row is loaded or quarantined."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

RECONCILE_SQL = """
select b.batch_id, b.source_system, b.entity, b.file_path, b.rows_received, b.rows_loaded,
       b.rows_quarantined, coalesce(q.quarantined, 0) as quarantine_rows
from meta.load_batches b
left join (
    select batch_id, count(*) as quarantined from quarantine.rejected_rows group by batch_id
) q using (batch_id)
where b.status = 'loaded'
  and (b.rows_received != b.rows_loaded + b.rows_quarantined
       or b.rows_quarantined != coalesce(q.quarantined, 0))
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
    """Batches whose counts do not add up, or whose quarantine rows are missing."""
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
            f"({in_quarantine} rows in quarantine)",
        )
        for batch_id, system, entity, path, received, loaded, quarantined, in_quarantine in (
            con.execute(RECONCILE_SQL).fetchall()
        )
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
    return Reconciliation(int(batches[0]) if batches else 0, mismatches)


def raw_row_counts(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    """Rows in raw per batch (to compare with meta.load_batches.rows_loaded)."""
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'"
    ).fetchall()
    counts: dict[int, int] = {}
    for (table,) in tables:
        for batch_id, n in con.execute(
            f'select _batch_id, count(*) from raw."{table}" group by _batch_id'
        ).fetchall():
            counts[int(batch_id)] = counts.get(int(batch_id), 0) + int(n)
    return counts
