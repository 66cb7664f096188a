"""The Dagster instance beside the warehouse: run history for `cif run` and `cif ui` alike.

Dagster writes every event of a run (a step starting, a table built, a check evaluated, a log
line) to SQLite with a commit each, and a commit with SQLite's default durability costs about
24 ms on these machines: a small nightly run has about 1,300 events, so half of its time went
into its own history. The history's databases are therefore written without waiting for the
disk (synchronous=OFF): a process that crashes loses nothing, an operating system that
crashes may lose the last events or damage the history database, never the warehouse, which
is replaced only by an atomic rename of a complete working copy.

Dagster's SQLite storages also build a new SQLAlchemy engine, and open a new connection, for
every event they write (and each new engine's first connection sets up SQLAlchemy's dialect):
at 80 customers, runs alternated in one process took 18.3-18.6 s with one engine per file
against 22.5-23.1 s. The storages below are Dagster's own, keeping one engine and its open
connections per database file; the files, their layout and their tables are unchanged, so
`cif ui` and any Dagster tool read them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from orchestration.settings import CifSettings

_fast_homes: set[str] = set()


def dagster_instance(settings: CifSettings) -> dg.DagsterInstance:
    """The persistent instance beside the warehouse (run history for `cif ui`)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    # written again when the folder has moved (the storages name it)
    if current in (None, OLD) or (current.startswith(OURS) and current != instance_config(home)):
        config.write_text(instance_config(home))
    fast_run_history(home)
    return dg.DagsterInstance.from_config(str(home))


def fast_run_history(home: Path) -> None:
    """Write SQLite databases under `home` without waiting for the disk (see above)."""
    _fast_homes.add(str(home.resolve()))
    if not event.contains(Engine, "connect", _fast_history_connection):
        event.listen(Engine, "connect", _fast_history_connection)


def _fast_history_connection(dbapi_connection: object, _record: object) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = [row[2] for row in dbapi_connection.execute("pragma database_list")]
    if any(f and any(f.startswith(home) for home in _fast_homes) for f in files):
        dbapi_connection.execute("pragma synchronous = off")
        # Connections stay open (see _Engines), so SQLite never gets to delete a write-ahead log
        # on the last close: keep each log small instead (checkpoint every 64 pages, truncate
        # to 256 KiB), or a nearly full disk fills with logs before the run's own work.
        dbapi_connection.execute("pragma wal_autocheckpoint = 64")
        dbapi_connection.execute("pragma journal_size_limit = 262144")


# dagster.yaml as this module writes it (a file someone edited is left alone), and as it was
# written before the storages below.
OURS = "# Written by cif (orchestration/instance.py)"
OLD = "telemetry:\n  enabled: false\n"


def instance_config(home: Path) -> str:
    """dagster.yaml: Dagster's default SQLite layout under `home`, written by the storages
    below, and no telemetry."""
    history = home / "history"

    def storage(kind: str, cls: type, base_dir: Path) -> str:
        path = json.dumps(str(base_dir))  # a JSON string is a YAML string
        return f"{kind}:\n  module: {__name__}\n  class: {cls.__name__}\n  config:\n    base_dir: {path}\n"

    return (
        f"{OURS}: one SQLAlchemy engine per SQLite file.\n{OLD}"
        + storage("run_storage", OneEngineRunStorage, history)
        + storage("event_log_storage", OneEngineEventLogStorage, history / "runs")
    )


class _Engines:
    """One SQLAlchemy engine per database file, made on first use. Its pool (SQLAlchemy's
    QueuePool, as for any SQLite file) keeps connections open between uses: Dagster's own
    storages open a new connection per event, and at 2,000 demo customers opening, setting up
    and closing them took 1.7 of the 2.1 s a run spent writing its history (py-spy). An idle
    pooled connection holds no lock, so `cif ui` and other processes read and write as before.
    """

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def engine(self, conn_string: str) -> Engine:
        if conn_string not in self._engines:
            self._engines[conn_string] = create_engine(
                conn_string,
                poolclass=QueuePool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
        return self._engines[conn_string]

    def forget(self, conn_string: str) -> None:
        """Close one file's pooled connections (before the file is deleted)."""
        engine = self._engines.pop(conn_string, None)
        if engine is not None:
            engine.dispose()

    def dispose(self) -> None:
        """Close every pooled connection (before their files are deleted)."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


class OneEngineEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run SQLite event log, with one engine per run's database file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._cached = _Engines()  # the parent's __init__ already connects
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._cached.engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        self._cached.dispose()  # Dagster deletes the run files: no connection may outlive them
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        """Dagster's, then the run's own database file: emptied, SQLite keeps its size (about
        2 MB for a small night), so a deleted run would still cost its file for ever."""
        super().delete_events(run_id)
        with self._db_lock:
            self._cached.forget(self.conn_string_for_shard(run_id))
            self._initialized_dbs.discard(run_id)
            for suffix in (".db", ".db-wal", ".db-shm"):
                Path(self._base_dir, f"{run_id}{suffix}").unlink(missing_ok=True)

    def has_table(self, table_name: str) -> bool:
        engine = self._cached.engine(self.conn_string_for_shard("index"))
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))


class OneEngineRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage, with one engine for its database file."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        self._cached = _Engines()
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._cached.engine(self._conn_string).connect() as conn, conn.begin():
            yield conn
