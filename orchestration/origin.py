"""Runs of `cif run` as the Dagster UI's own runs: created with the job's repository origin.

`execute_in_process` creates its run without a repository origin, and the UI's overview timeline
groups runs by the code location and repository they came from, so such runs showed only under
Runs. Here the run is created as `cif ui` (`dagster dev -m orchestration.definitions`) would
create it, then executed in this process, the same way `execute_in_process` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

DEFINITIONS_MODULE = "orchestration.definitions"  # what `cif ui` loads
REPOSITORY_NAME = "__repository__"  # the repository Dagster makes of a Definitions object


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the UI gives the job: code location named after the module `cif ui` loads."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            working_directory=os.getcwd(),
        ),
        location_name=DEFINITIONS_MODULE,
    )
    return RemoteRepositoryOrigin(location, REPOSITORY_NAME).get_job_origin(job_name)


def execute_with_origin(
    job: dg.JobDefinition,
    run_config: Mapping[str, object],
    instance: dg.DagsterInstance,
    run_id: str,
    tags: Mapping[str, str],
) -> bool:
    """Run `job` in this process as a run of the UI's repository; True if it succeeded."""
    in_memory = InMemoryJob(job)
    plan = create_execution_plan(in_memory, run_config=run_config, instance_ref=instance.get_ref())
    run = instance.create_run_for_job(
        job_def=job,
        execution_plan=plan,
        run_id=run_id,
        run_config=run_config,
        tags={**job.run_tags, **tags},
        remote_job_origin=remote_job_origin(job.name),
    )
    return execute_run(in_memory, run, instance).success
