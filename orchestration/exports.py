"""Exports of the published warehouse, wired the same way for the export asset and `cif export`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ingest.export import ExportResult, export_marts, pii_columns
from ingest.warehouse import connection
from orchestration.dbt_project import MANIFEST, prepare_manifest


def export_published(
    warehouse: Path,
    out: Path,
    as_of: dt.date,
    run_id: str,
    include_pii: bool = False,
    file_format: str = "parquet",
    checks: list[dict] | None = None,
) -> ExportResult:
    """Export the marts of a published warehouse, leaving out the columns the dbt project
    declares personal unless asked."""
    if not MANIFEST.exists():
        prepare_manifest()
    with connection(warehouse, read_only=True) as con:
        return export_marts(
            con,
            out,
            as_of,
            run_id,
            pii=pii_columns(MANIFEST),
            include_pii=include_pii,
            file_format=file_format,
            checks=checks or [],
        )
