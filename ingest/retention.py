"""Retention of quarantine detail: the original records of rejected rows and values are personal
data, kept `keep_days` after their file was loaded; the batch counts in meta.load_batches stay,
and meta.quarantine_pruned names the batches whose detail is gone (reconciliation skips them)."""

from __future__ import annotations

import datetime as dt

import duckdb

from ingest.warehouse import transaction

STALE_BATCHES_SQL = """
select batch_id from meta.load_batches
where loaded_at < $cutoff
  and batch_id not in (select batch_id from meta.quarantine_pruned)
  and (batch_id in (select batch_id from quarantine.rejected_rows)
       or batch_id in (select batch_id from quarantine.rejected_values))
order by batch_id
"""


def prune_quarantine(
    con: duckdb.DuckDBPyConnection, keep_days: int, now: dt.datetime | None = None
) -> list[int]:
    """Delete the quarantined rows and values of files loaded more than `keep_days` ago (0: keep
    for ever); returns their batch ids."""
    if not keep_days:
        return []
    cutoff = (now or dt.datetime.now()) - dt.timedelta(days=keep_days)
    batches = [r[0] for r in con.execute(STALE_BATCHES_SQL, {"cutoff": cutoff}).fetchall()]
    if not batches:
        return []
    with transaction(con):
        for table in ("rejected_rows", "rejected_values"):
            con.execute(
                f"delete from quarantine.{table} where list_contains($ids, batch_id)",
                {"ids": batches},
            )
        con.execute(
            "insert into meta.quarantine_pruned select unnest($ids), current_timestamp",
            {"ids": batches},
        )
    return batches


def removal_note(batches: list[int], keep_days: int) -> str:
    return (
        f"Quarantined records of {len(batches)} file(s) loaded more than {keep_days} days ago "
        "removed, their counts kept (CIF_QUARANTINE_KEEP_DAYS)"
    )
