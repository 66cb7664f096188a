"""SQL that says what is wrong with a raw record: the whole row, or single optional values.

A problem in a column that `rejects_row` (required columns, currencies) rejects the record;
a problem in any other column sets that value to NULL in raw and records it in
`quarantine.rejected_values`, and the record is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.layouts import Column, Layout, ValueRules, value_rules
from ingest.sql import quote_literal

BOOLEAN_WORDS = ("true", "false", "t", "f", "1", "0", "yes", "no", "y", "n")
# The precision amounts are validated with AND stored with (macro parse_decimal): the same.
DECIMAL_TYPE = "decimal(18, 4)"


def _present(expr: str) -> str:
    return f"nullif(trim({expr}), '') is not null"


def _parsed_date(column: Column, value: str) -> str:
    """SQL for the value as a date, or NULL. DuckDB reads the words 'epoch' (1970-01-01) and
    '-infinity' / 'infinity' as dates, with or without a format: they are no dates here."""
    if column.format:
        parsed = f"try_strptime({value}, {quote_literal(column.format)})"
    else:
        parsed = f"try_cast({value} as {'date' if column.type == 'date' else 'timestamptz'})"
    return (
        f"case when not regexp_full_match(lower({value}), '[+-]?(infinity|epoch)') "
        f"then cast({parsed} as date) end"
    )


def parses(column: Column, expr: str, rules: ValueRules | None = None) -> str:
    """SQL true when a non-empty value parses as the column's declared type."""
    value = f"trim({expr})"
    if column.type in ("date", "timestamp"):
        return f"{_parsed_date(column, value)} is not null"
    if column.type == "decimal":
        if column.decimal_separator != ".":
            sep = quote_literal(column.decimal_separator)
            value = f"replace(replace({value}, '.', ''), {sep}, '.')"
        return f"try_cast({value} as {DECIMAL_TYPE}) is not null"
    if column.type == "integer":  # try_cast would round '1.5' to 2
        return f"regexp_full_match({value}, '[+-]?[0-9]{{1,18}}')"
    if column.type == "boolean":
        words = ", ".join(quote_literal(w) for w in BOOLEAN_WORDS)
        return f"lower({value}) in ({words})"
    if column.type == "currency":
        known = ", ".join(quote_literal(c) for c in sorted((rules or value_rules()).currencies))
        return f"upper({value}) in ({known})"
    return "true"


def problem(column: Column, expr: str, rules: ValueRules) -> str | None:
    """SQL for what is wrong with a non-empty value ('bad date', 'date outside ...'), or NULL;
    None when the column's type cannot be wrong (text)."""
    if column.type == "text":
        return None
    if column.type == "currency":
        bad = quote_literal("unknown currency (no rate in var currency_rates)")
    else:
        bad = quote_literal(f"bad {column.type}")
    check = f"when not ({parses(column, expr, rules)}) then {bad}"
    if column.type in ("date", "timestamp"):
        window = f"{rules.plausible_from}..{rules.plausible_to}"
        parsed = _parsed_date(column, f"trim({expr})")
        check += (
            f" when {parsed} not between date '{rules.plausible_from}' "
            f"and date '{rules.plausible_to}' "
            f"then {quote_literal(f'{column.type} outside the plausible window {window}')}"
        )
    return f"case when {_present(expr)} then case {check} end end"


@dataclass(frozen=True)
class Checks:
    """SQL over one record: why the whole row is rejected (NULL if it is not), and per optional
    column why its value is set to NULL (NULL if it is fine)."""

    row_reason: str
    value_reasons: dict[str, str]


def checks(layout: Layout, present: dict[str, str], rules: ValueRules | None = None) -> Checks:
    """The checks of `layout` over the columns a file has: `present` maps a layout column name
    to the SQL expression holding its text."""
    rules = rules or value_rules()
    fatal: list[str] = []
    noted: list[str] = []
    value_reasons: dict[str, str] = {}
    for column in layout.columns:
        if column.name not in present:
            continue
        expr = present[column.name]
        if column.required:
            label = quote_literal("missing required field " + column.name)
            fatal.append(f"case when not {_present(expr)} then {label} end")
        what = problem(column, expr, rules)
        if what is None:
            continue
        part = f"{what} || {quote_literal(f' in {column.name}: ')} || left({expr}, 60)"
        (fatal if column.rejects_row else noted).append(part)
        if not column.rejects_row:
            value_reasons[column.name] = what
    if not fatal:
        return Checks("cast(null as varchar)", value_reasons)
    # A rejected row's reason names every problem it has, the optional values' too.
    row_reason = (
        f"case when concat_ws('; ', {', '.join(fatal)}) != '' "
        f"then concat_ws('; ', {', '.join(fatal + noted)}) end"
    )
    return Checks(row_reason, value_reasons)
