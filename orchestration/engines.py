"""The warehouse built on either engine, step by step: DuckDB (the default) or Apache Spark.

`build_warehouse(settings)` runs the layers of a nightly run in order without Dagster: ingest,
dbt integration layer, identity resolution, dbt core, scoring, dbt marts. On DuckDB every step
works on the warehouse file. On Spark (CIF_ENGINE=spark):

- ingest loads the landing zone into the DuckDB file as always (it is the ledger of what
  landed: each file once, quarantine with reasons, counts that reconcile), and the raw layer
  is shared with Spark as Parquet (ingest/spark.py);
- dbt builds every model on Spark through dbt-spark (profile target `spark`);
- the Python steps read their inputs from Spark, run on the DuckDB file where their state
  lives (the identity model, stable keys, scores history), and write their outputs back to
  Spark as Parquet tables.

Each layer is a `dbt build`: its models, then the dbt data tests on them, on either engine. The
Dagster job's other checks (GX suites, reconciliation, monitors), publish and exports run on
DuckDB only, for now (README: Spark engine).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.loader import load_landing
from ingest.spark import spark_home
from ingest.warehouse import connection, write_run_context
from models import scoring
from models.identity import DBT_INPUTS as IDENTITY_INPUTS
from models.identity import resolve_identities
from models.identity import tables as identity_tables
from orchestration.dbt_project import NO_ARTIFACTS, DbtError, dbt_args, invoke, parsed_manifest
from orchestration.settings import CifSettings

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import duckdb

LAYERS = ("integrate", "core", "marts")  # the dbt tags, in build order
SCORES_TABLES = (
    f"{scoring.SCHEMA}.{scoring.SCORES_TABLE}",
    f"{scoring.SCHEMA}.{scoring.MODEL_RUNS_TABLE}",
    f"{scoring.SCHEMA}.{scoring.SUMMARY_TABLE}",
)


@dataclass
class BuildResult:
    """What a build did: files loaded and seconds per step."""

    engine: str
    home: Path  # where the engine keeps its tables
    files_loaded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    tests_passed: int = 0  # dbt data tests run on the engine after each layer's models


class _Timer:
    def __init__(self, result: BuildResult) -> None:
        self.result = result

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = work()
        self.result.seconds[name] = round(time.perf_counter() - started, 2)
        return value


def _warehouse(
    settings: CifSettings, read_only: bool = False
) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The DuckDB ledger, bounded by CIF_MEMORY_LIMIT as in a nightly run."""
    return connection(settings.warehouse, read_only=read_only, memory_limit=settings.memory_limit)


def build_warehouse(settings: CifSettings, run_id: str = "engine-build") -> BuildResult:
    """Ingest, then every layer and Python step, on the engine of `settings`."""
    home = settings.warehouse if settings.engine == "duckdb" else spark_home(settings.warehouse)
    result = BuildResult(engine=settings.engine, home=home)
    timer = _Timer(result)
    with _warehouse(settings) as con:
        loaded = timer.step("ingest", lambda: load_landing(con, settings.landing))
        result.files_loaded = sum(r.status == "loaded" for r in loaded)
        write_run_context(con, settings.as_of, settings.as_known_at)
    engine = SparkEngine(settings) if settings.engine == "spark" else DuckDBEngine(settings)
    with engine:
        timer.step("share raw layer", engine.share_raw)
        result.tests_passed += timer.step("dbt integrate", lambda: engine.build("integrate"))
        timer.step("identity", lambda: engine.python_step(_identity, IDENTITY_INPUTS, _IDENTITY))
        result.tests_passed += timer.step("dbt core", lambda: engine.build("core"))
        step = _scoring(settings.as_of, run_id)
        timer.step("scoring", lambda: engine.python_step(step, scoring.DBT_INPUTS, SCORES_TABLES))
        result.tests_passed += timer.step("dbt marts", lambda: engine.build("marts"))
    return result


_IDENTITY = identity_tables.TABLES


def _identity(con: Any) -> None:
    resolve_identities(con)


def _scoring(as_of: dt.date, run_id: str) -> Callable[[Any], None]:
    return lambda con: scoring.run_scoring(con, as_of, run_id)


def _dbt_build(tag: str, target: Path, options: list[str], variables: dict, manifest: Any) -> int:
    """`dbt build` of one layer: its models, then the data tests on them (a failing test stops
    the build, as the job's blocking checks do). Returns the number of tests that passed; unit
    tests run on DuckDB only (they are about the SQL, not the engine)."""
    command = ["build", "--select", f"tag:{tag}", "--exclude-resource-type", "unit_test"]
    result = invoke(dbt_args([*command, *options], target, variables), manifest=manifest)
    if not result.success:
        failed = [r.node.name for r in result.result if str(r.status) in ("error", "fail")]
        raise DbtError(f"dbt build of layer {tag} failed ({', '.join(failed)}); see {target}")
    tests = [r for r in result.result if r.node.resource_type == "test"]
    return sum(str(r.status) == "pass" for r in tests)


class DuckDBEngine:
    """Every step on the warehouse file (what the Dagster job does, without its Python checks)."""

    def __init__(self, settings: CifSettings) -> None:
        self.settings = settings
        self._target = tempfile.TemporaryDirectory(prefix="cif-dbt-")

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._target.cleanup()

    def share_raw(self) -> None:
        """Nothing to share: dbt reads raw in the same file."""

    def build(self, tag: str) -> int:
        variables = {
            **self.settings.run_vars,
            "warehouse_path": str(self.settings.warehouse),
            "memory_limit": self.settings.memory_limit,
        }
        manifest = parsed_manifest(self.settings.warehouse)
        return _dbt_build(tag, Path(self._target.name), list(NO_ARTIFACTS), variables, manifest)

    def python_step(self, step: Callable[[Any], None], inputs: Any, outputs: Any) -> None:
        with _warehouse(self.settings) as con:
            step(con)


class SparkEngine:
    """dbt on a Spark session; the Python steps on the DuckDB ledger, tables moved as Parquet."""

    def __init__(self, settings: CifSettings) -> None:
        from ingest import spark

        self.settings = settings
        self.home = spark.spark_home(settings.warehouse)
        spark.clear_built_tables(self.home)  # the session's catalog starts empty: rebuild all
        self.session = spark.spark_session(self.home)
        self._manifest: Any = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.stop()

    def share_raw(self) -> None:
        from ingest import spark

        with _warehouse(self.settings, read_only=True) as con:
            spark.share_raw_layer(con, self.session, self.home)

    def build(self, tag: str) -> int:
        target = self.home / "dbt"
        variables = self._clocks()
        if self._manifest is None:  # one parse for the three layers
            parse = dbt_args(["parse", "--target", "spark"], target, variables)
            self._manifest = invoke(parse).result
        # always in full: the session's catalog starts empty, and Spark cannot delete+insert
        options = ["--target", "spark", "--full-refresh"]
        return _dbt_build(tag, target, options, variables, self._manifest)

    def _clocks(self) -> dict[str, Any]:
        """The run's vars, with its clocks compiled in as vars (macros/as_of.sql): Spark runs
        each lookup of meta.run_context as a job of its own, and this build parses the project
        anyway."""
        clocks = {**self.settings.run_vars, "as_of": self.settings.as_of.isoformat()}
        if self.settings.as_known_at is not None:
            clocks["as_known_at"] = self.settings.as_known_at.isoformat(sep=" ")
        return clocks

    def python_step(self, step: Callable[[Any], None], inputs: Any, outputs: Any) -> None:
        from ingest import spark

        exchange = self.home / "exchange"
        with _warehouse(self.settings) as con:
            spark.spark_to_duckdb(self.session, con, inputs, exchange)
            step(con)
            spark.duckdb_to_spark(con, self.session, outputs, exchange)
