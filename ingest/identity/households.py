"""Households: customers linked by a shared address, shared contact details
(e-mail, phone) or a joint account form one household, under its own stable key."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ingest.identity.keys import Change, stable_keys
from ingest.identity.linking import components

HOLDERS_SQL = """
select h.account_id, m.customer_key
from staging.stg_branch__account_holders h
join core.customer_identity_map m
    on m.source_system = h.source_system and m.source_customer_id = h.source_customer_id
where h.valid_to is null
"""


def household_edges(records: pd.DataFrame, holders: pd.DataFrame) -> pd.DataFrame:
    """Pairs of customer keys (left, right, rule) that live together."""
    parts = []
    shared = {
        "same_address": ["postcode_key", "address_key"],
        "shared_email": ["email"],
        "shared_phone": ["phone"],
    }
    people = records[records.party_type == "person"]
    for rule, cols in shared.items():
        sub = people.dropna(subset=cols)[[*cols, "customer_key"]].drop_duplicates()
        first = sub.groupby(cols).customer_key.transform("min")
        keep = first != sub.customer_key
        parts.append(
            pd.DataFrame({"left": first[keep], "right": sub.customer_key[keep], "rule": rule})
        )
    if len(holders):
        first = holders.groupby("account_id").customer_key.transform("min")
        keep = first != holders.customer_key
        parts.append(
            pd.DataFrame(
                {"left": first[keep], "right": holders.customer_key[keep], "rule": "joint_account"}
            )
        )
    return pd.concat(parts, ignore_index=True).drop_duplicates(["left", "right", "rule"])


def assign_households(
    customer_keys: np.ndarray, edges: pd.DataFrame, previous: pd.DataFrame
) -> tuple[pd.DataFrame, list[Change]]:
    """household_key per customer_key, stable against `previous` (customer_key, household_key)."""
    keys = np.unique(customer_keys.astype("int64"))
    pos = pd.Series(np.arange(len(keys)), index=keys)
    edges = edges[edges.left.isin(pos.index) & edges.right.isin(pos.index)]
    cluster = components(len(keys), pos[edges.left].to_numpy(), pos[edges.right].to_numpy())
    sides = pd.concat(
        [
            edges[["left", "rule"]].rename(columns={"left": "key"}),
            edges[["right", "rule"]].rename(columns={"right": "key"}),
        ]
    )
    sides = sides.drop_duplicates().sort_values(["key", "rule"])
    rule = sides.groupby("key", sort=False).rule.agg(",".join)
    members = pd.DataFrame({"customer_key": keys, "cluster": cluster})
    members["evidence"] = rule.reindex(keys).fillna("alone").to_numpy()
    household, changes = stable_keys(members, previous, ["customer_key"], "household_key")
    members["household_key"] = household.to_numpy()
    return members.rename(columns={"evidence": "household_rule"}).drop(columns=["cluster"]), changes


def load_holders(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    try:
        return con.execute(HOLDERS_SQL).df()
    except duckdb.CatalogException:
        return pd.DataFrame({"account_id": [], "customer_key": []})
