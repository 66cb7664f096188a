"""SQL that says why a raw record breaks its layout (NULL when it does not)."""

from __future__ import annotations

from ingest.layouts import Column, Layout
from ingest.sql import quote_ident, quote_literal

BOOLEAN_WORDS = ("true", "false", "t", "f", "1", "0", "yes", "no", "y", "n")


def _present(expr: str) -> str:
    return f"nullif(trim({expr}), '') is not null"


def parses(column: Column, expr: str) -> str:
    """SQL true when a non-empty value parses as the column's declared type."""
    value = f"trim({expr})"
    if column.type == "date":
        if column.format:
            return f"try_strptime({value}, {quote_literal(column.format)}) is not null"
        return f"try_cast({value} as date) is not null"
    if column.type == "timestamp":
        if column.format:
            return f"try_strptime({value}, {quote_literal(column.format)}) is not null"
        return f"try_cast({value} as timestamptz) is not null"
    if column.type == "decimal":
        if column.decimal_separator != ".":
            sep = quote_literal(column.decimal_separator)
            value = f"replace(replace({value}, '.', ''), {sep}, '.')"
        return f"try_cast({value} as decimal(18, 4)) is not null"
    if column.type == "integer":  # try_cast would round '1.5' to 2
        return f"regexp_full_match({value}, '[+-]?[0-9]{{1,18}}')"
    if column.type == "boolean":
        words = ", ".join(quote_literal(w) for w in BOOLEAN_WORDS)
        return f"lower({value}) in ({words})"
    return "true"


def reason_expression(layout: Layout, present_columns: set[str]) -> str:
    """One SQL expression: the reasons a record is rejected, joined by '; ', or NULL."""
    parts: list[str] = []
    for column in layout.columns:
        if column.name not in present_columns:
            continue
        expr = quote_ident(column.name)
        if column.required:
            parts.append(
                f"case when not {_present(expr)} "
                f"then {quote_literal('missing required field ' + column.name)} end"
            )
        if column.type != "text":
            label = quote_literal(f"bad {column.type} in {column.name}: ")
            parts.append(
                f"case when {_present(expr)} and not ({parses(column, expr)}) "
                f"then {label} || left({expr}, 60) end"
            )
    if not parts:
        return "cast(null as varchar)"
    return "nullif(concat_ws('; ', " + ", ".join(parts) + "), '')"
