"""The Dagster resource every asset uses: paths, the run's business date, and the warehouse.

A run that includes the publish asset (the nightly job) writes a private working copy of the
warehouse and publishes it at the end (see ingest/warehouse.py); a partial run started from
the UI writes the published warehouse directly, under the same writer lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from ingest.warehouse import connection
from orchestration.instance import fast_run_history
from orchestration.settings import (
    DEFAULT_AUDIT_KEEP_DAYS,
    DEFAULT_EXPORT_KEEP_DAYS,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_MODEL_RUNS_KEEP_DAYS,
    DEFAULT_QUARANTINE_KEEP_DAYS,
    DEFAULT_RUN_HISTORY_KEEP_DAYS,
    DEFAULT_SCORES_KEEP_DAYS,
    CifSettings,
)
from orchestration.warehouse import WorkingCopy, WriterLock, clean_stale_work

PUBLISH_KEY = dg.AssetKey(["warehouse_published"])

_run_locks: dict[str, WriterLock] = {}


def claim_warehouse(published: Path, run_id: str, clean: bool = True) -> None:
    """Take the warehouse's writer lock for `run_id` (once; WarehouseBusyError if another run
    holds it) and, for a run that publishes, remove working copies left by dead runs."""
    if run_id in _run_locks:
        return
    _run_locks[run_id] = WriterLock(published, run_id).acquire()
    if clean:
        clean_stale_work(published, keep=run_id)


def release_run(run_id: str) -> None:
    """Release the writer lock a run holds (also released when its process ends)."""
    lock = _run_locks.pop(run_id, None)
    if lock:
        lock.release()


class CifResource(dg.ConfigurableResource):
    """Where things are and which business date the run is for (empty as_of: today)."""

    landing: str
    warehouse: str
    exports: str
    as_of: str = ""
    as_known_at: str = ""
    full_refresh: bool = False
    memory_limit: str = DEFAULT_MEMORY_LIMIT  # how much memory DuckDB may hold
    export_keep_days: int = DEFAULT_EXPORT_KEEP_DAYS  # how long exports stay (0: for ever)
    run_vars: str = ""  # dbt vars over dbt_project.yml's, a JSON object (CIF_DBT_VARS)
    # retention of the rest (CifSettings; 0: for ever)
    scores_keep_days: int = DEFAULT_SCORES_KEEP_DAYS
    model_runs_keep_days: int = DEFAULT_MODEL_RUNS_KEEP_DAYS
    run_history_keep_days: int = DEFAULT_RUN_HISTORY_KEEP_DAYS
    quarantine_keep_days: int = DEFAULT_QUARANTINE_KEEP_DAYS
    audit_keep_days: int = DEFAULT_AUDIT_KEEP_DAYS

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.instance is not None and context.instance.root_directory:
            fast_run_history(Path(context.instance.root_directory))

    @classmethod
    def from_settings(cls, settings: CifSettings) -> CifResource:
        return cls(
            landing=str(settings.landing),
            warehouse=str(settings.warehouse),
            exports=str(settings.exports),
            memory_limit=settings.memory_limit,
            export_keep_days=settings.export_keep_days,
            run_vars=settings.dbt_vars,
            scores_keep_days=settings.scores_keep_days,
            model_runs_keep_days=settings.model_runs_keep_days,
            run_history_keep_days=settings.run_history_keep_days,
            quarantine_keep_days=settings.quarantine_keep_days,
            audit_keep_days=settings.audit_keep_days,
        )

    @classmethod
    def run_config(cls, settings: CifSettings) -> dict:
        """Run config for this resource: the settings, with the run's business date."""
        config = cls.from_settings(settings).model_dump()
        config["as_of"] = settings.as_of.isoformat()
        config["as_known_at"] = settings.as_known_at.isoformat() if settings.as_known_at else ""
        config["full_refresh"] = settings.full_refresh
        return {"resources": {"cif": {"config": config}}}

    @property
    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else dt.date.today()

    @property
    def as_known_at_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.as_known_at) if self.as_known_at else None

    def dbt_vars(self, context: dg.AssetExecutionContext) -> dict[str, Any]:
        """What dbt needs on its command line: the vars the run gives over dbt_project.yml's,
        the file it builds and how much memory DuckDB may use there. The run's clocks are in
        meta.run_context (`write_run_context`), not vars, so that one parse serves every run."""
        return {
            **(json.loads(self.run_vars) if self.run_vars else {}),
            "warehouse_path": str(self.warehouse_path(context)),
            "memory_limit": self.memory_limit,
        }

    @property
    def published_path(self) -> Path:
        return Path(self.warehouse)

    def publishes(self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> bool:
        """Whether the run is the whole job (it builds every layer and publishes)."""
        selection = context.run.asset_selection  # None or empty: the whole job
        return not selection or PUBLISH_KEY in selection

    def warehouse_path(
        self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext
    ) -> Path:
        """The file this run writes: its working copy in a full run, else the published file."""
        run_id = context.run.run_id
        claim_warehouse(self.published_path, run_id, clean=self.publishes(context))
        if not self.publishes(context):
            return self.published_path
        return WorkingCopy(self.published_path, run_id).begin(on_copy=context.log.info)

    @contextlib.contextmanager
    def connect(
        self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        with connection(self.warehouse_path(context), memory_limit=self.memory_limit) as con:
            yield con

    def publish(self, context: dg.AssetExecutionContext) -> Path:
        run_id = context.run.run_id
        try:
            return WorkingCopy(self.published_path, run_id).publish()
        finally:
            release_run(run_id)
