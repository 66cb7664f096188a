"""Which raw column each of a file's columns goes to, and the checks computed over them.

Headers match the layout regardless of case and surrounding blanks (`Source_Customer_ID` is
`source_customer_id`), required and optional columns alike; an exact match is preferred when
two headers differ only in case. A column the layout does not know is kept in raw under its own
name, unless that name is taken (DuckDB names ignore case): by a lineage column (`_loaded_at`),
a layout column or another header. It is then kept as `src_<name>` (or `<name>_2`, ...), and
the batch's schema drift says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.layouts import Layout
from ingest.readers import source_column
from ingest.sql import quote_literal
from ingest.validation import checks

LINEAGE_COLUMNS = {
    "_batch_id": "bigint",
    "_source_system": "varchar",
    "_source_file": "varchar",
    "_row_number": "bigint",
    "_loaded_at": "timestamp",
}


def _key(name: str) -> str:
    return name.strip().lower()


@dataclass
class ColumnPlan:
    """How one file's columns are checked and where they land in raw."""

    columns: list[str]
    raw_names: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    row_reason: str = "cast(null as varchar)"
    # (position in the file, raw column name, SQL reason for setting the value to NULL)
    value_checks: list[tuple[int, str, str]] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def file_reason(self) -> str | None:
        """Why every row of the file is rejected: it lacks required columns."""
        if not self.missing_required:
            return None
        return "file lacks required column(s): " + ", ".join(self.missing_required)

    def select_items(self) -> str:
        """SQL select items over s0, s1, ...: `_reason` (rows) and `_v<i>` (values)."""
        if self.file_reason:
            return f"{quote_literal(self.file_reason)} as _reason"
        items = [f"{self.row_reason} as _reason"]
        items += [f"{reason} as _v{i}" for i, _, reason in self.value_checks]
        return ", ".join(items)

    def raw_value(self, position: int) -> str:
        """SQL for what raw stores of the file's column: NULL where the value was rejected."""
        value = source_column(position)
        if any(i == position for i, _, _ in self.value_checks):
            return f"case when _v{position} is null then {value} end"
        return value


def plan_columns(layout: Layout, columns: list[str]) -> ColumnPlan:
    """Match a file's columns to its layout and build the checks over them."""
    plan = ColumnPlan(columns)
    matched = _match(layout, columns)
    by_position = {i: name for name, i in matched.items()}
    taken = {_key(c) for c in [*layout.column_names, *LINEAGE_COLUMNS]}
    for i, header in enumerate(columns):
        if i in by_position:
            plan.raw_names.append(by_position[i])
            continue
        name = _free_name(header, taken)
        taken.add(_key(name))
        plan.raw_names.append(name)
        plan.extra.append(name)
        if name != header:
            plan.renamed.append(f"{header} -> {name}")
    plan.missing_required = [c for c in layout.required if c not in matched]
    found = checks(layout, {name: source_column(i) for name, i in matched.items()})
    plan.row_reason = found.row_reason
    plan.value_checks = [(matched[n], n, reason) for n, reason in found.value_reasons.items()]
    return plan


def _match(layout: Layout, columns: list[str]) -> dict[str, int]:
    """Layout column name -> position of the file's column that holds it."""
    exact = {c: i for i, c in reversed(list(enumerate(columns)))}
    loose: dict[str, int] = {}
    for i, c in reversed(list(enumerate(columns))):
        loose[_key(c)] = i
    matched: dict[str, int] = {}
    used: set[int] = set()
    for name in layout.column_names:
        position = exact.get(name, loose.get(_key(name)))
        if position is not None and position not in used:
            matched[name] = position
            used.add(position)
    return matched


def _free_name(header: str, taken: set[str]) -> str:
    name = header if _key(header) not in taken else f"src_{header.lstrip('_')}"
    suffix = 2
    base = name
    while _key(name) in taken:
        name = f"{base}_{suffix}"
        suffix += 1
    return name


def schema_drift(layout: Layout, plan: ColumnPlan) -> list[str]:
    """Notes on columns the file has that the layout lacks, and the other way round."""
    notes = []
    present = {_key(n) for n in plan.raw_names}
    missing = [c for c in layout.column_names if _key(c) not in present]
    if plan.extra:
        kept = "not kept: the file was rejected" if plan.file_reason else "kept in raw"
        notes.append(f"new column(s) {kept}: " + ", ".join(plan.extra))
    if plan.renamed:
        notes.append("column(s) renamed in raw, their name being taken: " + ", ".join(plan.renamed))
    if missing:
        notes.append("missing column(s): " + ", ".join(missing))
    return notes
