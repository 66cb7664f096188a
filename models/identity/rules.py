"""Deterministic rules: pairs of records that share a strong identifier.

E-mail addresses and phone numbers are shared within households (a partner using the other's
address, the household landline), so they only link records whose forenames agree too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# rule -> the fields that must all be present and equal
DETERMINISTIC_RULES: dict[str, tuple[str, ...]] = {
    "national_id": ("national_id", "party_type"),
    "email_and_name": ("email", "given"),
    "phone_and_name": ("phone", "given"),
}


def star_edges(frame: pd.DataFrame, by: list[str], node: str) -> tuple[np.ndarray, np.ndarray]:
    """Edges (left, right) linking the rows of `frame` that share every `by` value, as a star
    from the smallest `node` of each group; rows missing a `by` value take no part."""
    known = frame.dropna(subset=by)
    first = known.groupby(by, sort=False)[node].transform("min").to_numpy()
    nodes = known[node].to_numpy()
    keep = first != nodes
    return first[keep], nodes[keep]


def rule_edges(records: pd.DataFrame) -> pd.DataFrame:
    """Edges (left, right, rule) between record positions that a deterministic rule links.

    Each group of records sharing a rule's key is linked as a star from its first record."""
    parts = []
    for rule, fields in DETERMINISTIC_RULES.items():
        cols = [f for f in fields if f in records.columns]
        if len(cols) < len(fields):
            continue
        present = records[cols].notna().all(axis=1).to_numpy()
        if not present.any():
            continue
        sub = records.loc[present, cols].astype(str).assign(pos=np.flatnonzero(present))
        left, right = star_edges(sub, cols, "pos")
        parts.append(pd.DataFrame({"left": left, "right": right, "rule": rule}))
    if {"referenced_source_system", "referenced_customer_id"} <= set(records.columns):
        left, right = reference_edges(records)
        parts.append(pd.DataFrame({"left": left, "right": right, "rule": "customer_number"}))
    if not parts:
        return pd.DataFrame({"left": [], "right": [], "rule": []}).astype(
            {"left": int, "right": int}
        )
    return pd.concat(parts, ignore_index=True)


def reference_edges(records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(named record, naming record) positions: a record that names a customer number of
    another system (`referenced_source_system`, `referenced_customer_id`, as its source
    declares, e.g. a caller giving their branch customer number) is that customer."""
    own = pd.Series(
        np.arange(len(records)),
        index=pd.MultiIndex.from_arrays([records.source_system, records.source_customer_id]),
    )
    own = own[~own.index.duplicated()]
    naming = records.referenced_source_system.notna() & records.referenced_customer_id.notna()
    named = own.reindex(
        pd.MultiIndex.from_arrays(
            [records.referenced_source_system[naming], records.referenced_customer_id[naming]]
        )
    ).to_numpy(dtype=float)
    ok = ~np.isnan(named)
    return named[ok].astype(int), np.flatnonzero(naming.to_numpy())[ok]


def attach_nameless(records: pd.DataFrame, cluster: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records without any name (e.g. newsletter sign-ups) join the customer owning their
    e-mail or phone. When several customers share it (a household), the one whose name the
    e-mail's user part spells wins, then the one seen first. Returns (cluster, attached)."""
    cluster = cluster.copy()
    nameless = (records.given.isna() & records.surname.isna()).to_numpy()
    named = ~nameless
    attached = np.zeros(len(records), dtype=bool)
    for field in ("email", "phone"):
        todo = nameless & ~attached & records[field].notna().to_numpy()
        if not todo.any():
            continue
        owners = records.loc[
            named & records[field].notna().to_numpy(), [field, "given", "surname", "first_seen_at"]
        ]
        owners = owners.assign(cluster=cluster[owners.index.to_numpy()])
        wanted = records.loc[todo, [field, "email_user"]].assign(pos=np.flatnonzero(todo))
        cand = wanted.merge(owners, on=field)
        if cand.empty:
            continue
        user = cand.email_user.fillna("").to_numpy()
        spells = np.array(
            [
                (2 if s and s in u else 0) + (1 if g and g in u else 0)
                for u, g, s in zip(
                    user, cand.given.fillna(""), cand.surname.fillna(""), strict=True
                )
            ]
        )
        cand = cand.assign(spells=-spells).sort_values(
            ["pos", "spells", "first_seen_at", "cluster"]
        )
        best = cand.drop_duplicates("pos")
        cluster[best.pos.to_numpy()] = best.cluster.to_numpy()
        attached[best.pos.to_numpy()] = True
    return cluster, attached
