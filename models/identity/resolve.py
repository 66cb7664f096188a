"""One night's identity resolution: records -> scored pairs -> customers -> keys -> households.

Splink works in its own tables first; the warehouse tables then change in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from models.identity.households import holders_fingerprint, write_households
from models.identity.keys import assign_stable_keys, write_key_lookup
from models.identity.linking import link_records
from models.identity.model import MODEL_VERSION
from models.identity.pairs import score_pairs, store_pairs
from models.identity.records import RECORDS_SQL, load_records, store_phones
from models.identity.tables import (
    HOUSEHOLDS,
    IDENTITY_MAP,
    INPUTS,
    KEY_CHANGES,
    SCHEMA,
    append_changes,
    ensure_tables,
    read_frame,
    replace_rows,
)

MAP_COLUMNS = [
    "source_system",
    "source_customer_id",
    "customer_key",
    "match_rule",
    "first_seen_at",
    "resolved_at",
]


@dataclass(frozen=True)
class IdentityResult:
    records: int
    customers: int
    new_customers: int
    merges: int
    splits: int = 0
    households: int = 0
    compared_records: int = 0
    model_trained: bool = False
    # True on a night whose customer records and account holders are those of the last
    # resolution: linking and households were skipped, the tables are as they were.
    skipped: bool = False


def input_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """What resolution reads, fingerprinted in SQL (order-independent row hashes): the
    records as RECORDS_SQL gives them, the current account holders, the model's version."""
    count, digest = con.execute(
        f"select count(*), bit_xor(hash(r)) from ({RECORDS_SQL}) r"
    ).fetchall()[0]
    holders, held = holders_fingerprint(con)
    return f"v{MODEL_VERSION}:{count}:{digest}:{holders}:{held}"


def _unchanged(con: duckdb.DuckDBPyConnection, fingerprint: str) -> IdentityResult | None:
    """The last resolution's result where it read exactly these inputs, else None."""
    found = con.execute(f"select fingerprint from {SCHEMA}.{INPUTS}").fetchall()
    if not found or found[0][0] != fingerprint:
        return None
    records, customers = con.execute(
        f"select count(*), count(distinct customer_key) from {SCHEMA}.{IDENTITY_MAP}"
    ).fetchall()[0]
    households = con.execute(
        f"select count(distinct household_key) from {SCHEMA}.{HOUSEHOLDS}"
    ).fetchall()[0][0]
    return IdentityResult(records, customers, 0, 0, households=households, skipped=True)


def resolve_identities(
    con: duckdb.DuckDBPyConnection, resolved_at: dt.datetime | None = None, force: bool = False
) -> IdentityResult:
    """Rebuild core.customer_identity_map (and households) from the integrated customer records;
    a night with no new or changed record or account holder (unless `force`) skips it all."""
    resolved_at = resolved_at or dt.datetime.now().replace(microsecond=0)
    ensure_tables(con)
    fingerprint = input_fingerprint(con)
    skipped = None if force else _unchanged(con, fingerprint)
    if skipped is not None:
        return skipped
    records = load_records(con)
    scored = score_pairs(con, records)
    # read after the scoring, whose peak it would add to (3M records at 1M customers)
    previous = read_frame(
        con, f"select source_system, source_customer_id, customer_key from {SCHEMA}.{IDENTITY_MAP}"
    )
    con.execute("begin transaction")
    try:
        store_pairs(con, records, scored, resolved_at)
        store_phones(con, records)
        mapped, changes = _write_map(con, records, scored.pairs, previous, resolved_at)
        write_key_lookup(con, mapped.customer_key.to_numpy())
        households = write_households(con, mapped, resolved_at)
        replace_rows(
            con,
            INPUTS,
            pd.DataFrame(
                {
                    "fingerprint": [fingerprint],
                    "records": [len(mapped)],
                    "resolved_at": [resolved_at],
                }
            ),
            ["fingerprint", "records", "resolved_at"],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    known = set(previous.customer_key.astype(int)) if len(previous) else set()
    keys = set(mapped.customer_key.astype(int))
    return IdentityResult(
        records=len(mapped),
        customers=len(keys),
        new_customers=len(keys - known),
        merges=sum(1 for c in changes if c[0] == "merge"),
        splits=sum(1 for c in changes if c[0] == "split"),
        households=households,
        compared_records=scored.compared,
        model_trained=scored.trained is not None,
    )


def _write_map(
    con: duckdb.DuckDBPyConnection,
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    previous: pd.DataFrame,
    resolved_at: dt.datetime,
) -> tuple[pd.DataFrame, list]:
    """Cluster the records, key the clusters stably and write the map and its key changes;
    returns every record with its customer_key, and the changes."""
    linked = link_records(records, pairs)
    mapped, changes = assign_stable_keys(linked, previous)
    mapped["resolved_at"] = resolved_at
    replace_rows(con, IDENTITY_MAP, mapped, MAP_COLUMNS)
    append_changes(con, KEY_CHANGES, changes, resolved_at)
    return mapped, changes
