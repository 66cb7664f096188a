"""The published warehouse, read-only, held only while lookups run.

A nightly run writes its own working copy and publishes it by an atomic rename, so reading the
published path never blocks a run, and each lookup sees the newest published file (a lookup
that attached the old file before the rename finishes on it). Only a writer on the published
file itself (a partial run started from the Dagster UI) holds DuckDB's lock: then the lookup
waits briefly and retries.

Starting a DuckDB instance costs tens of milliseconds, attaching a file a few, so one
in-memory instance per process attaches the file read-only when a lookup begins and detaches
it when the last concurrent lookup ends: the file is never held between lookups."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.sql import quote_ident, quote_literal

RETRY_SECONDS = 5.0


class WarehouseUnavailable(RuntimeError):
    """No published warehouse, or a writer held it for longer than the lookup waits."""


@dataclass
class _Attached:
    alias: str
    identity: tuple[int, int, int]  # inode, size, mtime: a newly published file differs
    users: int = 0


class PublishedWarehouse:
    """Lookups on one published warehouse file, safe to use from several threads."""

    def __init__(self, path: Path, wait: float = RETRY_SECONDS) -> None:
        self.path = path
        self.wait = wait
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._current: _Attached | None = None
        self._lock = threading.Lock()
        self._count = 0

    @contextlib.contextmanager
    def lookup(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose default database is the published warehouse."""
        attached, cursor = self._enter()
        try:
            cursor.execute(f"use {quote_ident(attached.alias)}")
            yield cursor
        finally:
            cursor.close()
            self._leave(attached)

    def _enter(self) -> tuple[_Attached, duckdb.DuckDBPyConnection]:
        """Attach the file if it is not (or a newer one was published); one cursor per lookup,
        since a DuckDB connection is not to be shared between threads."""
        with self._lock:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                raise WarehouseUnavailable(
                    f"no warehouse at {self.path}: run `cif run` first"
                ) from None
            identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if self._current is None or self._current.identity != identity:
                self._current = _Attached(self._attach(), identity)
            self._current.users += 1
            return self._current, self._instance.cursor()

    def _leave(self, attached: _Attached) -> None:
        with self._lock:
            attached.users -= 1
            if attached.users == 0:
                self._instance.execute(f"detach {quote_ident(attached.alias)}")
                if self._current is attached:
                    self._current = None

    def _attach(self) -> str:
        if self._instance is None:
            self._instance = duckdb.connect()
        self._count += 1
        alias = f"published_{self._count}"
        sql = f"attach {quote_literal(str(self.path))} as {quote_ident(alias)} (read_only)"
        deadline = time.monotonic() + self.wait
        while True:
            try:
                self._instance.execute(sql)
                return alias
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseUnavailable(f"{self.path} is being written: {exc}") from exc
            except duckdb.Error as exc:
                # Seen once in 4 suite runs: an attach at the instant a run published its file
                # failed with "Failed to load metadata pointer"; the next attempt reads the
                # whole new file. A lookup waits for it as for a writer's lock.
                if time.monotonic() > deadline:
                    raise WarehouseUnavailable(f"{self.path} could not be read: {exc}") from exc
            time.sleep(0.1)
