"""Quoting for SQL built from names and values that come from outside (file headers, paths)."""


def quote_ident(name: str) -> str:
    """A DuckDB identifier, safe whatever the file's header says."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
