"""The Dagster instance beside the warehouse: run history for `cif run` and `cif ui` alike.

Dagster writes every event of a run (a step starting, a table built, a check evaluated, a log
line) to SQLite with a commit each, and a commit with SQLite's default durability costs about
24 ms on these machines: a small nightly run has about 1,300 events, so half of its time went
into its own history. The history's databases are therefore written without waiting for the
disk (synchronous=OFF): a process that crashes loses nothing, an operating system that
crashes may lose the last events or damage the history database, never the warehouse, which
is replaced only by an atomic rename of a complete working copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
from sqlalchemy import event
from sqlalchemy.engine import Engine

from orchestration.settings import CifSettings

_fast_homes: set[str] = set()


def dagster_instance(settings: CifSettings) -> dg.DagsterInstance:
    """The persistent instance beside the warehouse (run history for `cif ui`)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    fast_run_history(home)
    return dg.DagsterInstance.from_config(str(home))


def fast_run_history(home: Path) -> None:
    """Write SQLite databases under `home` without waiting for the disk (see above)."""
    _fast_homes.add(str(home.resolve()))
    if not event.contains(Engine, "connect", _no_sync):
        event.listen(Engine, "connect", _no_sync)


def _no_sync(dbapi_connection: object, _record: object) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = [row[2] for row in dbapi_connection.execute("pragma database_list")]
    if any(f and any(f.startswith(home) for home in _fast_homes) for f in files):
        dbapi_connection.execute("pragma synchronous = off")
