"""The dbt project, run inside this process: parse it, prepare its manifest, build its layers.

dbt runs in-process (dbt's `dbtRunner`) rather than as a subprocess, and its project is parsed
once per process: the parse that writes `target/manifest.json` for the definitions
(`prepare_manifest`) also serves every layer of every run. That holds because nothing a run
varies is compiled into the SQL: the business date and knowledge time are read from
meta.run_context at run time (macros/as_of.sql), and every run's working copy is named
cif.duckdb, the catalog the parsed relations name. At 300 demo customers the dbt part of a
nightly run went from 34 s (three subprocesses, each re-parsing because the run's vars
changed) to about 6 s.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.layouts import DBT_PROJECT_DIR, project_vars
from ingest.warehouse import connection, full_rebuild_reason, write_run_context

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
PARSE_STATE = "partial_parse.msgpack"  # dbt's saved parse, reused when nothing changed


class DbtError(RuntimeError):
    """dbt could not parse or run the project."""


def dbt_executable() -> str:
    """The dbt of this environment (the venv need not be activated), else the one on PATH:
    for what must run as its own process (the docs server)."""
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


# For builds whose target folder is thrown away (the nightly layers, the engines' DuckDB build):
# dbt's debug log file and its JSON artifacts (a 1.6 MB manifest per command) are never read
# there, as results arrive as events, and writing them took a quarter of a 40-customer build
# (three layers: 9.2-10.6 s with them, 7.3-7.4 s without).
NO_ARTIFACTS = ("--log-level-file", "none", "--no-write-json")


def dbt_args(
    command: Sequence[str], target: Path, variables: Mapping[str, Any] | None = None
) -> list[str]:
    """Arguments of a dbt command on this project, writing its artifacts to `target`."""
    args = [*command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(target), "--log-path", str(target), "--quiet"]
    if variables:
        args += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    return args


def invoke(args: list[str], manifest: Any = None, callbacks: Sequence[Callable] = ()) -> Any:
    """Run one dbt command in this process; returns dbt's result (raises DbtError when dbt
    itself failed, as opposed to a node failing)."""
    from dbt.cli.main import dbtRunner

    try:
        result = dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(args)
    finally:
        _close_warehouse()
    if result.exception is not None:
        raise DbtError(f"dbt {args[0]} failed: {result.exception}") from result.exception
    return result


def _close_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command: until
    it is closed, the file cannot be opened read-only here, its log is not checkpointed, and a
    run could publish a file whose last writes are still in the log."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another engine
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if environment is not None:
            environment.close()


# The catalog every parse without vars names its relations after (profiles.yml's default
# path ends in cif.duckdb).
PARSED_CATALOG = "cif"
_prepared: dict[str, Any] = {}  # this process's parse of the project as prepare_manifest made it


@lru_cache(maxsize=2)
def _parsed_for(warehouse: str) -> Any:
    with tempfile.TemporaryDirectory(prefix="cif-dbt-parse-") as target:
        variables = {"warehouse_path": warehouse}
        return invoke(dbt_args(["parse"], Path(target), variables)).result


def parsed_manifest(warehouse: Path) -> Any:
    """dbt's parsed project for building `warehouse`: the prepared one when the file's catalog
    is the one it names (every run's working copy), else a parse of its own."""
    if warehouse.stem != PARSED_CATALOG:
        return _parsed_for(str(warehouse))
    if "manifest" not in _prepared:
        prepare_manifest()
    return _prepared["manifest"]


def prepare_manifest() -> Path:
    """Parse the dbt project so that target/manifest.json is current before definitions load.

    Safe when several processes start at once (`cif run` beside `cif ui`, parallel tests): one
    parses at a time, into a private folder, and the manifest and parse state are swapped in
    with atomic renames, so a reader never sees a half-written manifest."""
    target = MANIFEST.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as private:
            state = target / PARSE_STATE
            if state.exists():  # start from the last parse: only changed files are re-read
                shutil.copy(state, Path(private) / PARSE_STATE)
            _prepared["manifest"] = invoke(dbt_args(["parse"], Path(private))).result
            for name in (PARSE_STATE, MANIFEST.name):
                if (Path(private) / name).exists():
                    os.replace(Path(private) / name, target / name)
    return MANIFEST


# Vars that say where and how dbt builds, not what: they change no derived row.
RUN_ONLY_VARS = frozenset({"warehouse_path", "memory_limit"})


def build_inputs(variables: Mapping[str, Any], manifest: Any) -> dict[str, dict[str, Any]]:
    """What the derived tables are built from besides the raw data, recorded in the build
    state to be compared by the next run: the vars in effect (dbt_project.yml's, overridden by
    the run's) and a checksum of the SQL of every model and macro of the project (a release
    that changes them rebuilds in full by itself)."""
    run_vars = {name: v for name, v in variables.items() if name not in RUN_ONLY_VARS}
    ours = "cif"
    return {
        "vars": {**project_vars(), **run_vars},
        "models": {
            node.name: node.checksum.checksum
            for node in manifest.nodes.values()
            if node.resource_type == "model" and node.package_name == ours
        },
        "macros": {
            macro.name: hashlib.sha256(macro.macro_sql.encode()).hexdigest()
            for macro in manifest.macros.values()
            if macro.package_name == ours
        },
    }


def build_layer(
    warehouse: Path,
    as_of: dt.date,
    tag: str,
    target: Path,
    full_refresh: bool = False,
    variables: Mapping[str, Any] | None = None,
) -> None:
    """Build one tagged dbt layer (models only) on `warehouse` as of `as_of` with the run vars
    `variables`, outside Dagster: for benchmarks and tests that need, say, the integration layer
    without a whole run."""
    variables = {**(variables or {}), "warehouse_path": str(warehouse)}
    manifest = parsed_manifest(warehouse)
    with connection(warehouse) as con:
        write_run_context(con, as_of)
        # like a run: the incremental models add to the last build only when it allows
        inputs = build_inputs(variables, manifest)
        full_refresh = full_refresh or full_rebuild_reason(con, as_of, None, inputs) is not None
    command = ["run", "--select", f"tag:{tag}", *(["--full-refresh"] if full_refresh else [])]
    result = invoke(dbt_args(command, target, variables), manifest=manifest)
    if not result.success:
        raise DbtError(f"dbt run of layer {tag} failed; see {target / 'run_results.json'}")


def generate_docs(warehouse: Path, out: Path) -> Path:
    """dbt's docs (lineage, descriptions, columns with their types) as one static page,
    `<out>/index.html`. dbt reads its catalog from a copy of the warehouse: the published file
    is never held open, so a nightly run can publish meanwhile."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cif-docs-") as private:
        copy = Path(private) / f"{PARSED_CATALOG}.duckdb"
        shutil.copyfile(warehouse, copy)
        target = Path(private) / "target"
        invoke(
            dbt_args(["docs", "generate", "--static"], target, {"warehouse_path": str(copy)}),
            manifest=parsed_manifest(copy),
        )
        page = out / "index.html"
        shutil.copyfile(target / "static_index.html", page)
    return page
