"""The dbt project as Dagster assets: one cached DbtProject, a translator, three layers.

The dbt graph is split by tag where Python steps sit between dbt layers:
integrate (staging, intermediate) -> identity resolution -> core -> scoring -> marts.
Each layer is built by dbt in this process (orchestration/dbt_project.py) and its results
become Dagster events through dagster-dbt's own conversion, so dbt tests are asset checks.
"""

import shutil
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from ingest.layouts import DBT_PROJECT_DIR
from ingest.warehouse import (
    clear_build_state,
    drop_derived_relations,
    full_rebuild_reason,
    table_row_counts,
    write_build_state,
    write_run_context,
)
from models.identity import TABLES as IDENTITY_TABLES
from orchestration.dbt_project import (
    NO_ARTIFACTS,
    build_inputs,
    dbt_args,
    invoke,
    parsed_manifest,
)
from orchestration.resources import CifResource
from orchestration.run_report import FULL_REBUILD

# dbt's events that carry a node's result; the others are progress chatter.
RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
# The nightly build leaves out dbt unit tests: they test the SQL, not the night's data, and
# run in the test suite (tests/test_marts.py).
NIGHTLY_EXCLUDE = ["--exclude-resource-type", "unit_test"]


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


def _build(context: dg.AssetExecutionContext, cif: CifResource, tag: str) -> Iterator[Any]:
    variables = cif.dbt_vars(context)
    manifest = parsed_manifest(Path(variables["warehouse_path"]))
    inputs = build_inputs(variables, manifest)
    args = ["build", "--select", f"tag:{tag}", *NIGHTLY_EXCLUDE, *NO_ARTIFACTS]
    rebuild_reason = _prepare(context, cif, tag, inputs)
    if rebuild_reason:
        args.append("--full-refresh")
    target = Path(dbt_project().project_dir) / "target" / "runs" / f"{context.run.run_id}-{tag}"
    results: list[dict] = []
    errors: list[str] = []
    try:
        outcome = invoke(
            dbt_args(args, target, variables),
            manifest=manifest,
            callbacks=[lambda event: _collect(event, results, errors)],
        )
        yield from _dagster_events(context, cif, results, target, rebuild_reason)
        if not outcome.success:
            raise dg.Failure(description=dbt_failures(results, errors))
        with cif.connect(context) as con:
            if not cif.publishes(context):  # a partial run: the layers may disagree now
                clear_build_state(con)
            elif tag == LAST_LAYER:  # every derived table now stands as of the run's clocks
                write_build_state(con, cif.as_of_date, cif.as_known_at_time, rebuild_reason, inputs)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _prepare(
    context: dg.AssetExecutionContext, cif: CifResource, tag: str, inputs: dict[str, Any]
) -> str | None:
    """Write the run's clocks for the layer; returns why it must be rebuilt in full, or None
    when the incremental models may add only what the night brought (and the run's `inputs`,
    vars and models, are the last build's). Every layer of a run decides alike: the build
    state it reads is written after the last layer."""
    with cif.connect(context) as con:
        if cif.full_refresh:
            reason = "--full-refresh"
            if tag == FIRST_LAYER:
                dropped = drop_derived_relations(con, keep=IDENTITY_TABLES)
                context.log.info(f"full refresh: dropped {len(dropped)} derived relations")
        else:
            reason = full_rebuild_reason(con, cif.as_of_date, cif.as_known_at_time, inputs)
        write_run_context(con, cif.as_of_date, cif.as_known_at_time)
    context.log.info(f"{tag}: " + (f"full rebuild ({reason})" if reason else "incremental"))
    return reason


def _collect(event: Any, results: list[dict], errors: list[str]) -> None:
    """Keep dbt's result events (as the dicts of its JSON log) and its error messages."""
    from dbt_common.events.functions import msg_to_dict

    if event.info.name in RESULT_EVENTS:
        results.append(msg_to_dict(event))
    elif event.info.level == "error":
        errors.append(event.info.msg)


def _dagster_events(
    context: dg.AssetExecutionContext,
    cif: CifResource,
    results: list[dict],
    target: Path,
    rebuild_reason: str | None,
) -> Iterator[Any]:
    """dagster-dbt's events for dbt's results, with the row count of every table built and,
    on a full rebuild, why (the run's summary and report name it: orchestration/run_report)."""
    manifest = dbt_project().manifest_path
    events = [
        event
        for raw in results
        for event in DbtCoreCliEventMessage(raw, {}).to_default_asset_events(
            manifest=manifest,
            dagster_dbt_translator=TRANSLATOR,
            context=context,
            target_path=target,
        )
    ]
    with cif.connect(context) as con:
        counts = table_row_counts(con)
    for event in events:
        if isinstance(event, dg.Output) and context.asset_key_for_output(event.output_name):
            key = context.asset_key_for_output(event.output_name)
            rows = counts.get(".".join(key.path))
            extra = {"dagster/row_count": rows} if rows is not None else {}
            if rebuild_reason:
                extra[FULL_REBUILD] = rebuild_reason
            event = event.with_metadata({**event.metadata, **extra})
        yield event


def dbt_failures(results: list[dict], errors: list[str]) -> str:
    """The dbt nodes that errored or failed, each with the first lines of its message."""
    failures = []
    for raw in results:
        data = raw["data"]
        status = str(data.get("status") or data.get("node_info", {}).get("node_status", ""))
        if status.lower() in ("error", "fail", "runtime error"):
            unique_id = data.get("node_info", {}).get("unique_id", "?")
            message = " ".join(str(raw["info"].get("msg", "")).split())[:900]
            failures.append(f"{unique_id}: {message}")
    failures = failures or [" ".join(e.split())[:900] for e in errors]
    return "dbt: " + "; ".join(failures) if failures else "dbt failed (see the run's logs)"


# dbt tag -> what the layer's step is called (its first docstring line is the step's label).
LAYERS = {
    "integrate": "dbt: staging and integration",
    "core": "dbt: integrated core",
    "marts": "dbt: marts",
}


def _layer(tag: str) -> dg.AssetsDefinition:
    def layer_assets(context: dg.AssetExecutionContext, cif: CifResource):
        yield from _build(context, cif, tag)

    layer_assets.__doc__ = f"{LAYERS[tag]}\n\nThe dbt models and tests tagged {tag!r}."
    return dbt_assets(
        manifest=dbt_project().manifest_path,
        project=dbt_project(),
        select=f"tag:{tag}",
        dagster_dbt_translator=TRANSLATOR,
        name=f"dbt_{tag}",
    )(layer_assets)


FIRST_LAYER, *_, LAST_LAYER = LAYERS

dbt_integrate_assets, dbt_core_assets, dbt_marts_assets = (_layer(tag) for tag in LAYERS)
DBT_LAYER_ASSETS = (dbt_integrate_assets, dbt_core_assets, dbt_marts_assets)


def dbt_asset_key(qualified_model: str) -> dg.AssetKey:
    """The asset key of a dbt model named "schema.model" (checked against the manifest)."""
    schema, model = qualified_model.split(".")
    key = get_asset_key_for_model([dbt_integrate_assets], model)  # one manifest serves all
    if key.path[0] != schema or not any(key in layer.keys for layer in DBT_LAYER_ASSETS):
        raise ValueError(f"no dbt model {qualified_model} is built by the dbt layers")
    return key


def dbt_keys_in_schema(schema: str, layer: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The asset keys a dbt layer builds into `schema` (e.g. the exported marts)."""
    return sorted((k for k in layer.keys if k.path[0] == schema), key=lambda k: k.path)
