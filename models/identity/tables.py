"""The tables identity resolution owns, declared once: their DDL and the list of their names.

They live in the `core` schema beside the dbt models but are written by Python, so a full
rebuild of the dbt layers must keep them (customer keys are stable across rebuilds).

The tables rewritten in full each night carry no primary-key index: maintaining one over a
delete-and-insert of every row cost 4.8 s of a 9.5 s resolution at 20k customers. Uniqueness
of the identity map is a blocking check (quality/suites.py).
"""

from __future__ import annotations

import duckdb

from ingest.warehouse import drop_primary_keys

SCHEMA = "core"
IDENTITY_MAP = "customer_identity_map"
KEY_CHANGES = "customer_key_changes"
KEY_LOOKUP = "customer_key_lookup"
HOUSEHOLDS = "customer_household"
HOUSEHOLD_KEY_CHANGES = "household_key_changes"
MODEL = "identity_model"
RECORD_STATE = "identity_records"
PAIR_STATE = "identity_pairs"
PHONES = "identity_phones"
INPUTS = "identity_inputs"

DDL = {
    IDENTITY_MAP: """(
        source_system varchar not null,
        source_customer_id varchar not null,
        customer_key bigint not null,
        match_rule varchar not null,
        first_seen_at timestamp,
        resolved_at timestamp not null)""",
    KEY_CHANGES: """(
        change_type varchar not null,
        old_customer_key bigint not null,
        new_customer_key bigint not null,
        evidence varchar,
        changed_at timestamp not null)""",
    KEY_LOOKUP: "(customer_key bigint not null, current_customer_key bigint not null)",
    HOUSEHOLDS: """(
        customer_key bigint not null,
        household_key bigint not null,
        household_rule varchar not null,
        resolved_at timestamp not null)""",
    HOUSEHOLD_KEY_CHANGES: """(
        change_type varchar not null,
        old_household_key bigint not null,
        new_household_key bigint not null,
        evidence varchar,
        changed_at timestamp not null)""",
    MODEL: """(
        model_version varchar not null,
        settings_json varchar not null,
        trained_records bigint not null,
        trained_at timestamp not null)""",
    RECORD_STATE: "(uid varchar not null, record_hash varchar)",
    PAIR_STATE: "(uid_l varchar not null, uid_r varchar not null, match_probability double not null)",
    # phone numbers as given (with the region they were read in) -> E.164 and kind
    PHONES: "(phone varchar not null, region varchar not null, e164 varchar, kind varchar)",
    # a fingerprint of what the last resolution read: a night that brings nothing new skips
    INPUTS: "(fingerprint varchar not null, records bigint not null, resolved_at timestamp not null)",
}
REWRITTEN = (IDENTITY_MAP, KEY_LOOKUP, HOUSEHOLDS, RECORD_STATE, PAIR_STATE, INPUTS)

# "core.customer_identity_map", ...: what a full rebuild of the dbt layers keeps.
TABLES = tuple(f"{SCHEMA}.{name}" for name in DDL)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for name, columns in DDL.items():
        con.execute(f"create table if not exists {SCHEMA}.{name} {columns}")
    drop_primary_keys(con, SCHEMA, REWRITTEN)


def read_frame(con: duckdb.DuckDBPyConnection, sql: str, types_mapper=None):
    """The rows of `sql` as a pandas DataFrame, through Arrow, whose conversion keeps one Python
    string per distinct value: a million customers' records took 0.9 GB so, against 2.3 GB from
    DuckDB's df() (the same values and types)."""
    return con.sql(sql).to_arrow_table().to_pandas(types_mapper=types_mapper)


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame, columns: list[str]) -> None:
    """Replace every row of core.`table` by `frame`'s `columns` (inside the caller's transaction)."""
    view = f"_new_{table}"
    con.register(view, frame)
    try:
        con.execute(f"delete from {SCHEMA}.{table}")
        # clustered by customer: looking up one customer (the frontline) reads only its row groups
        order = " order by customer_key" if "customer_key" in columns else ""
        con.execute(f"insert into {SCHEMA}.{table} select {', '.join(columns)} from {view}{order}")
    finally:
        con.unregister(view)


def append_changes(con: duckdb.DuckDBPyConnection, table: str, changes: list, at) -> None:
    """Append (kind, old key, new key, evidence) changes, stamped `at`."""
    if changes:
        con.executemany(
            f"insert into {SCHEMA}.{table} values (?, ?, ?, ?, ?)",
            [(*change, at) for change in changes],
        )
