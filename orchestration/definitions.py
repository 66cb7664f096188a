"""The Dagster Definitions: `cif run`, `cif ui` and `dagster dev` all load these."""

from __future__ import annotations

import dagster as dg

from orchestration.assets import (
    customer_identity_map,
    customer_scoring,
    ingest_landing,
    marts_export,
    retention,
    warehouse_published,
)
from orchestration.checks import ALL_CHECKS
from orchestration.dbt import dbt_core_assets, dbt_integrate_assets, dbt_marts_assets
from orchestration.jobs import nightly_job
from orchestration.resources import CifResource
from orchestration.schedules import (
    build_failure_sensor,
    build_landing_sensor,
    build_nightly_schedule,
    build_report_sensor,
)
from orchestration.settings import CifSettings

ASSETS = [
    ingest_landing,
    dbt_integrate_assets,
    customer_identity_map,
    dbt_core_assets,
    customer_scoring,
    dbt_marts_assets,
    warehouse_published,
    marts_export,
    retention,
]


def build_definitions(settings: CifSettings | None = None) -> dg.Definitions:
    settings = settings or CifSettings.load()
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[nightly_job],
        schedules=[build_nightly_schedule(settings)],
        sensors=[
            build_landing_sensor(settings),
            build_failure_sensor(settings),
            build_report_sensor(settings),
        ],
        resources={"cif": CifResource.from_settings(settings)},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
