"""The raw layer's checks, per raw table: every received row accounted for, no key sent twice
with different values, and the usual sources at their usual volume."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ingest.layouts import load_layouts
from quality.monitors import conflicting_keys, low_volume, missing_sources, raw_table_of
from quality.reconciliation import reconcile


@dataclass(frozen=True)
class RawCheck:
    name: str
    blocking: bool
    description: str


RAW_CHECKS = (
    RawCheck(
        "rows_reconcile",
        True,
        "every received row is loaded or quarantined; raw holds what was loaded",
    ),
    RawCheck("keys_consistent", True, "no key appears twice in one file with different values"),
    RawCheck(
        "volume_and_freshness", False, "every usual source sent a file of about its usual size"
    ),
)


def raw_findings(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, list[str]]]:
    """Raw table ("raw.x") -> check name -> what failed (an empty list: passed); every
    declared raw table is present."""
    findings = {
        f"raw.{layout.raw_table}": {check.name: [] for check in RAW_CHECKS}
        for layout in load_layouts().values()
    }
    for mismatch in reconcile(con).mismatches:
        table = raw_table_of(mismatch.source_system, mismatch.entity)
        if table in findings:
            findings[table]["rows_reconcile"].append(str(mismatch))
    for finding in conflicting_keys(con, list(load_layouts().values())):
        if finding.table in findings:
            findings[finding.table]["keys_consistent"].append(finding.message)
    for finding in low_volume(con) + missing_sources(con):
        if finding.table in findings:
            findings[finding.table]["volume_and_freshness"].append(str(finding))
    return findings
