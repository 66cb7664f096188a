"""One short read-only connection to the published warehouse per lookup.

A nightly run writes its own working copy and publishes it by an atomic rename, so opening the
published path read-only never blocks a run, and each lookup sees the newest published file
(the old one stays readable to a lookup that opened it before the rename). Only a writer on the
published file itself (a partial run started from the Dagster UI) holds DuckDB's lock: then
the lookup waits briefly and retries."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from ingest.warehouse import connect

RETRY_SECONDS = 5.0


class WarehouseUnavailable(RuntimeError):
    """No published warehouse, or a writer held it for longer than the lookup waits."""


@contextlib.contextmanager
def published(warehouse: Path, wait: float = RETRY_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    if not warehouse.exists():
        raise WarehouseUnavailable(f"no warehouse at {warehouse}: run `cif run` first")
    deadline = time.monotonic() + wait
    while True:
        try:
            con = connect(warehouse, read_only=True)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseUnavailable(f"{warehouse} is being written: {exc}") from exc
            time.sleep(0.1)
    try:
        yield con
    finally:
        con.close()
