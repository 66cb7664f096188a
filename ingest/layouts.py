"""Source layouts, declared once in the dbt sources files and read here for validation.

Each landed `<source_system>/<entity>` folder maps to a dbt source table whose columns carry
`meta` describing the raw layout: `type` (text, date, timestamp, decimal, integer, boolean),
`format` (strptime format for dates and timestamps), `decimal_separator`, `required` and `key`
(the columns that identify a record: within one file, two records with the same key must not
disagree).
A source system that is not declared is read in the canonical layout (dbt source `canonical`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CANONICAL = "canonical"
COLUMN_TYPES = frozenset({"text", "date", "timestamp", "decimal", "integer", "boolean"})
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
SOURCES_GLOB = "models/staging/**/_*.yml"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"
    required: bool = False
    format: str | None = None
    decimal_separator: str = "."
    key: bool = False


@dataclass(frozen=True)
class Layout:
    """The raw layout of one entity of one source system (one dbt source table)."""

    source: str
    entity: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def raw_table(self) -> str:
        return f"{self.source}__{self.entity}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def key(self) -> list[str]:
        return [c.name for c in self.columns if c.key]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _column(spec: dict) -> Column:
    meta = spec.get("meta") or (spec.get("config") or {}).get("meta") or {}
    col_type = meta.get("type", "text")
    if col_type not in COLUMN_TYPES:
        raise ValueError(f"column {spec['name']}: unknown layout type {col_type!r}")
    return Column(
        name=spec["name"],
        type=col_type,
        required=bool(meta.get("required", False)),
        format=meta.get("format"),
        decimal_separator=meta.get("decimal_separator", "."),
        key=bool(meta.get("key", False)),
    )


def parse_sources(documents: Iterable[dict]) -> dict[tuple[str, str], Layout]:
    """Layouts from parsed dbt sources documents (only sources in the `raw` schema)."""
    layouts: dict[tuple[str, str], Layout] = {}
    for doc in documents:
        for source in doc.get("sources", []):
            if source.get("schema") != "raw":
                continue
            for table in source.get("tables", []):
                layout = Layout(
                    source=source["name"],
                    entity=table["name"],
                    columns=tuple(_column(c) for c in table.get("columns", [])),
                )
                layouts[(layout.source, layout.entity)] = layout
    return layouts


@cache
def load_layouts(project_dir: Path = DBT_PROJECT_DIR) -> dict[tuple[str, str], Layout]:
    """All declared layouts, keyed by (source, entity)."""
    files = sorted(project_dir.glob(SOURCES_GLOB))
    return parse_sources(yaml.safe_load(f.read_text()) or {} for f in files)


def layout_for(source_system: str, entity: str) -> Layout | None:
    """The layout a landed folder is read with: its own, else the canonical one, else None."""
    layouts = load_layouts()
    if (source_system, entity) in layouts:
        return layouts[(source_system, entity)]
    if any(src == source_system for src, _ in layouts):
        return None  # a declared system with an entity we do not know
    return layouts.get((CANONICAL, entity))
