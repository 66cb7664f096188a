"""Key figures of a warehouse, for run summaries and reports."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.warehouse import connection


def customers_in_360(warehouse: Path) -> int | None:
    """Customers in the published customer 360 (None if there is none yet, or the file is
    being written)."""
    if not warehouse.exists():
        return None
    try:
        with connection(warehouse, read_only=True) as con:
            row = con.execute("select count(*) from marts.customer_360").fetchone()
            return int(row[0]) if row else 0
    except duckdb.Error:  # no marts yet, or the file is locked by a writer
        return None
