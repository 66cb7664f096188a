"""The dbt project as Dagster assets: one cached DbtProject, a translator, three layers.

The dbt graph is split by tag where Python steps sit between dbt layers:
integrate (staging, intermediate) -> identity resolution -> core -> scoring -> marts.
"""

import contextlib
import json
import shutil
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from ingest.warehouse import drop_derived_relations
from models.identity import TABLES as IDENTITY_TABLES
from orchestration.dbt_files import DBT_PROJECT_DIR, dbt_executable
from orchestration.resources import CifResource

PARTIAL_PARSE = "partial_parse.msgpack"


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


class CifDbtTranslator(DagsterDbtTranslator):
    """Asset keys are <schema>/<name>; groups follow the dbt folders."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        meta = dbt_resource_props.get("meta") or {}
        if "dagster_asset_key" in meta:
            return dg.AssetKey(meta["dagster_asset_key"])
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "dbt"


TRANSLATOR = CifDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource, cif: CifResource):
    args = ["build", "--vars", json.dumps(cif.dbt_vars(context))]
    if cif.full_refresh:
        args.append("--full-refresh")
        if context.op_def.name == "dbt_integrate":  # the first dbt layer of the run
            with cif.connect(context) as con:
                dropped = drop_derived_relations(con, keep=IDENTITY_TABLES)
            context.log.info(f"full refresh: dropped {len(dropped)} derived relations")
    runs = Path(dbt.project_dir) / "target" / "runs"
    target = runs / f"{context.run.run_id}-{context.op_def.name}"
    # The layers of one run share its vars, so the parse of the first serves the others: dbt
    # re-parses the whole project when vars change (every run), which is most of a small run.
    parsed = runs / f"{context.run.run_id}.msgpack"
    if parsed.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(parsed, target / PARTIAL_PARSE)
    invocation = dbt.cli(
        args,
        context=context,
        target_path=target,
        raise_on_error=False,
    )
    try:
        yield from invocation.stream()
        if not invocation.is_successful():
            raise dg.Failure(description=dbt_failures(target / "run_results.json"))
    finally:
        if (target / PARTIAL_PARSE).exists() and context.op_def.name != "dbt_marts":
            shutil.copy(target / PARTIAL_PARSE, parsed)
        else:
            parsed.unlink(missing_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        _remove_stale(runs)


def _remove_stale(runs: Path, older_than_s: float = 86_400) -> None:
    """Parse files of runs that were killed before their last dbt layer."""
    cutoff = time.time() - older_than_s
    for stale in runs.glob("*.msgpack"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def dbt_failures(run_results: Path) -> str:
    """The dbt nodes that errored or failed, each with the first lines of its message."""
    if not run_results.exists():
        return "dbt failed before it ran any node (see the run's logs)"
    failures = []
    for result in json.loads(run_results.read_text()).get("results", []):
        if result.get("status") in ("error", "fail", "runtime error"):
            message = " ".join((result.get("message") or "").split())[:900]
            failures.append(f"{result['unique_id']}: {message}")
    return "dbt: " + "; ".join(failures) if failures else "dbt failed (see the run's logs)"


def _layer(name: str, tag: str):
    @dbt_assets(
        manifest=dbt_project().manifest_path,
        project=dbt_project(),
        select=f"tag:{tag}",
        dagster_dbt_translator=TRANSLATOR,
        name=f"dbt_{name}",
    )
    def layer_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, cif: CifResource):
        yield from _build(context, dbt, cif)

    return layer_assets


dbt_integrate_assets = _layer("integrate", "integrate")
dbt_core_assets = _layer("core", "core")
dbt_marts_assets = _layer("marts", "marts")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )
