"""The one job: its name, its definition, and the labels of its steps."""

import dagster as dg

NIGHTLY_JOB = "nightly"

# DuckDB has one writer: every step of a run executes in one process, one at a time.
nightly_job = dg.define_asset_job(
    NIGHTLY_JOB,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest new files, build, score, check, publish the warehouse and export the marts.",
)


def step_labels(job: dg.JobDefinition) -> dict[str, str]:
    """Step name -> the first line of its description (the asset functions' docstrings), for
    the steps that build assets (checks run inside or beside them)."""
    labels = {}
    for assets_def in job.asset_layer.asset_graph.assets_defs:
        if assets_def.keys:
            node = assets_def.node_def
            description = (node.description or node.name).strip()
            labels[node.name] = description.splitlines()[0].rstrip(".")
    return labels
