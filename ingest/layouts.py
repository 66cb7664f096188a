"""Source layouts, declared once in the dbt sources files and read here for validation.

Each landed `<source_system>/<entity>` folder maps to a dbt source table whose columns carry
`meta` describing the raw layout: `type` (text, date, timestamp, decimal, integer, boolean),
`format` (strptime format for dates and timestamps), `decimal_separator`, `required` and `key`
(the columns that identify a record: within one file, two records with the same key must not
disagree). A source (or one of its tables) may declare the `encoding` of its text files in its
`meta`; otherwise it is detected (ingest/decoding.py).
A source system that is not declared is read in the canonical layout (dbt source `canonical`).

What makes a value valid beyond its type is declared once, as vars in dbt_project.yml, and read
here: the plausible window of dates (`plausible_from`, `plausible_to`) and the currencies with
a rate to the reporting currency (`currency_rates`).
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CANONICAL = "canonical"
COLUMN_TYPES = frozenset({"text", "date", "timestamp", "decimal", "integer", "boolean", "currency"})
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
SOURCES_GLOB = "models/staging/**/_*.yml"
PROJECT_FILE = "dbt_project.yml"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"
    required: bool = False
    format: str | None = None
    decimal_separator: str = "."
    key: bool = False

    @property
    def rejects_row(self) -> bool:
        """A bad value here rejects the whole row; elsewhere it is set to NULL and the row kept.
        An amount whose currency is unknown cannot be converted, so a bad currency is fatal too."""
        return self.required or self.type == "currency"


@dataclass(frozen=True)
class Layout:
    """The raw layout of one entity of one source system (one dbt source table)."""

    source: str
    entity: str
    columns: tuple[Column, ...] = field(default_factory=tuple)
    encoding: str | None = None

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
    meta = _meta(spec)
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


def _meta(spec: dict) -> dict:
    return spec.get("meta") or (spec.get("config") or {}).get("meta") or {}


def _encoding(*specs: dict) -> str | None:
    """The declared encoding of the first spec that has one (a table's, then its source's)."""
    for spec in specs:
        declared = _meta(spec).get("encoding")
        if declared:
            codecs.lookup(declared)  # an unknown codec fails here, not at the first file
            return str(declared)
    return None


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
                    encoding=_encoding(table, source),
                )
                layouts[(layout.source, layout.entity)] = layout
    return layouts


def _yaml(path: Path) -> Any:
    # libyaml's loader when PyYAML has it: the pure-Python one took 0.4 s of every run's
    # ingest for the sources files.
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def load_layouts(project_dir: Path = DBT_PROJECT_DIR) -> dict[tuple[str, str], Layout]:
    """All declared layouts, keyed by (source, entity)."""
    files = sorted(project_dir.glob(SOURCES_GLOB))
    return parse_sources(_yaml(f) or {} for f in files)


def layout_for(source_system: str, entity: str) -> Layout | None:
    """The layout a landed folder is read with: its own, else the canonical one, else None."""
    layouts = load_layouts()
    if (source_system, entity) in layouts:
        return layouts[(source_system, entity)]
    if any(src == source_system for src, _ in layouts):
        return None  # a declared system with an entity we do not know
    return layouts.get((CANONICAL, entity))


@dataclass(frozen=True)
class ValueRules:
    """What a value must satisfy beyond its type (vars in dbt_project.yml)."""

    plausible_from: dt.date
    plausible_to: dt.date
    currencies: frozenset[str]


def project_vars(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    """The vars dbt_project.yml declares, with their values."""
    return _yaml(project_dir / PROJECT_FILE).get("vars") or {}


@cache
def value_rules(project_dir: Path = DBT_PROJECT_DIR) -> ValueRules:
    variables = project_vars(project_dir)
    return ValueRules(
        plausible_from=dt.date.fromisoformat(str(variables["plausible_from"])),
        plausible_to=dt.date.fromisoformat(str(variables["plausible_to"])),
        currencies=frozenset(str(c).upper() for c in variables["currency_rates"]),
    )
