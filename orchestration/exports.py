"""Exports of the published warehouse, wired the same way for the export asset and `cif export`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ingest.export import ExportResult, export_marts
from ingest.privacy import DEFAULT_ROLE, export_role, pii_columns, pseudonym_key
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
    role: str = DEFAULT_ROLE,
) -> ExportResult:
    """Export the marts of a published warehouse: an analyst's view (personal data
    pseudonymised or generalised), or with `include_pii` the role's own view (refused to
    analysts: ingest.privacy.AccessDenied)."""
    shown_to = export_role(role, include_pii)
    if not MANIFEST.exists():
        prepare_manifest()
    with connection(warehouse, read_only=True) as con:
        return export_marts(
            con,
            out,
            as_of,
            run_id,
            pii=pii_columns(MANIFEST),
            role=shown_to,
            key=pseudonym_key(warehouse),
            file_format=file_format,
            checks=checks or [],
        )
