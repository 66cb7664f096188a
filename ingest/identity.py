"""Identity resolution: which source records are the same person, under stable customer keys.

Deterministic rules link records that share a strong identifier; records linked directly or
through others form one customer. Keys are stable: a customer keeps the key it had in the
previous map; a new customer gets the next unused key; when two previously separate customers
are found to be one, the smallest key survives and the merge is logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

# Each rule links two records when all of its (normalised) fields are present and equal.
DETERMINISTIC_RULES: dict[str, tuple[str, ...]] = {
    "national_id": ("national_id",),
    "email_and_name": ("email", "first_name", "last_name"),
    "phone_and_name": ("phone", "first_name", "last_name"),
}

RECORDS_SQL = """
with latest as (
    select source_system, source_customer_id, national_id, lower(first_name) as first_name,
           lower(last_name) as last_name, email, phone
    from intermediate.int_customer_records_unioned
    where is_latest
),
first_seen as (
    select source_system, source_customer_id, min(seen_at) as first_seen_at
    from (
        select source_system, source_customer_id, updated_at as seen_at
        from intermediate.int_customer_records_unioned
        union all
        select source_system, source_customer_id, occurred_at
        from intermediate.int_transactions_unioned
        union all
        select source_system, source_customer_id, occurred_at
        from intermediate.int_interactions_unioned
    )
    group by all
)
select f.source_system, f.source_customer_id, f.first_seen_at,
       l.national_id, l.first_name, l.last_name, l.email, l.phone
from first_seen f
left join latest l using (source_system, source_customer_id)
order by f.source_system, f.source_customer_id
"""

MAP_DDL = """
create schema if not exists core;
create table if not exists core.customer_identity_map (
    source_system varchar not null,
    source_customer_id varchar not null,
    customer_key bigint not null,
    match_rule varchar not null,
    first_seen_at timestamp,
    resolved_at timestamp not null,
    primary key (source_system, source_customer_id)
);
create table if not exists core.customer_key_changes (
    change_type varchar not null,
    old_customer_key bigint not null,
    new_customer_key bigint not null,
    evidence varchar,
    changed_at timestamp not null
);
"""


@dataclass(frozen=True)
class IdentityResult:
    records: int
    customers: int
    new_customers: int
    merges: int


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def link_records(records: pd.DataFrame) -> pd.DataFrame:
    """Cluster records by the deterministic rules. Adds `cluster` and `match_rule` columns."""
    n = len(records)
    uf = _UnionFind(n)
    rule_of = np.array(["singleton"] * n, dtype=object)
    for rule, fields in DETERMINISTIC_RULES.items():
        present = records[list(fields)].notna().all(axis=1).to_numpy()
        if not present.any():
            continue
        keyed = records.loc[present, list(fields)].astype(str).agg("\x1f".join, axis=1)
        for idx in keyed.groupby(keyed, sort=False).indices.values():
            if len(idx) > 1:
                members = keyed.index[idx]
                first = members[0]
                for other in members[1:]:
                    uf.union(first, other)
                rule_of[members] = np.where(rule_of[members] == "singleton", rule, rule_of[members])
    out = records.copy()
    out["cluster"] = [uf.find(i) for i in range(n)]
    out["match_rule"] = rule_of
    return out


def assign_stable_keys(
    linked: pd.DataFrame, previous: pd.DataFrame
) -> tuple[pd.DataFrame, list[tuple[int, int, str]]]:
    """Give each cluster a customer_key, reusing previous keys; returns (map, merges).

    `previous` has source_system, source_customer_id, customer_key. A cluster holding records
    with several previous keys keeps the smallest; each other key is a merge (old -> new).
    """
    keyed = linked.merge(
        previous[["source_system", "source_customer_id", "customer_key"]],
        on=["source_system", "source_customer_id"],
        how="left",
    )
    next_key = int(previous.customer_key.max()) + 1 if len(previous) else 1
    merges: list[tuple[int, int, str]] = []
    cluster_key: dict[int, int] = {}
    for cluster, group in keyed.groupby("cluster", sort=True):
        old_keys = sorted({int(k) for k in group.customer_key.dropna()})
        if old_keys:
            cluster_key[int(cluster)] = old_keys[0]
            rules = ",".join(sorted(set(group.match_rule)))
            merges += [(k, old_keys[0], rules) for k in old_keys[1:]]
        else:
            cluster_key[int(cluster)] = next_key
            next_key += 1
    keyed["customer_key"] = keyed.cluster.map(cluster_key).astype("int64")
    return keyed.drop(columns=["cluster"]), merges


def resolve_identities(
    con: duckdb.DuckDBPyConnection, resolved_at: dt.datetime | None = None
) -> IdentityResult:
    """Rebuild core.customer_identity_map from the integrated customer records."""
    resolved_at = resolved_at or dt.datetime.now().replace(microsecond=0)
    con.execute(MAP_DDL)
    records = con.execute(RECORDS_SQL).df()
    previous = con.execute(
        "select source_system, source_customer_id, customer_key from core.customer_identity_map"
    ).df()
    mapped, merges = assign_stable_keys(link_records(records), previous)
    mapped["resolved_at"] = resolved_at
    new_map = mapped[
        [
            "source_system",
            "source_customer_id",
            "customer_key",
            "match_rule",
            "first_seen_at",
            "resolved_at",
        ]
    ]
    con.register("new_map", new_map)
    try:
        con.execute("begin transaction")
        con.execute("delete from core.customer_identity_map")
        con.execute("insert into core.customer_identity_map select * from new_map")
        if merges:
            con.executemany(
                "insert into core.customer_key_changes values ('merge', ?, ?, ?, ?)",
                [(old, new, rules, resolved_at) for old, new, rules in merges],
            )
        con.execute("commit")
    finally:
        con.unregister("new_map")
    known = set(previous.customer_key.astype(int)) if len(previous) else set()
    keys = set(new_map.customer_key.astype(int))
    return IdentityResult(
        records=len(new_map),
        customers=len(keys),
        new_customers=len(keys - known),
        merges=len(merges),
    )
