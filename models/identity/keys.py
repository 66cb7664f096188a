"""Stable keys: a group keeps the key its members had; merges and splits are logged."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from models.identity.tables import KEY_CHANGES, KEY_LOOKUP, SCHEMA, replace_rows

Change = tuple[str, int, int, str]  # (merge|split, old key, new key, evidence)


def stable_keys(
    members: pd.DataFrame, previous: pd.DataFrame, item: list[str], key: str
) -> tuple[pd.Series, list[Change]]:
    """Key per row of `members` (columns item + cluster [+ evidence]) from `previous` (item + key).

    A cluster holding items with several previous keys keeps the smallest (the others merge
    into it); a previous key now spread over several clusters stays with the cluster holding
    most of its items and the others get new keys (splits). New clusters get max + 1, ..."""
    keyed = members.merge(previous[[*item, key]], on=item, how="left")
    if "evidence" not in keyed:
        keyed["evidence"] = ""
    next_key = int(previous[key].max()) + 1 if len(previous) else 1
    counts = keyed.dropna(subset=[key]).groupby([key, "cluster"]).size().reset_index(name="n")
    counts = counts.sort_values([key, "n", "cluster"], ascending=[True, False, True])
    heir = counts.drop_duplicates(key).set_index(key).cluster.astype(int)
    # each cluster keeps the smallest previous key among those it inherits; the others merge
    inherits = pd.DataFrame({"old": heir.index.astype("int64"), "cluster": heir.to_numpy()})
    merged = inherits.cluster.duplicated().to_numpy()
    kept = inherits[~merged]
    fresh = np.setdiff1d(keyed.cluster.astype(int).unique(), kept.cluster.to_numpy())
    cluster_key = pd.concat(
        [
            pd.Series(kept.old.to_numpy(), index=kept.cluster.to_numpy()),
            pd.Series(next_key + np.arange(len(fresh)), index=fresh),
        ]
    )
    found: list[tuple[str, int, int]] = [  # (merge|split, old key, cluster)
        ("merge", int(old), int(cluster))
        for old, cluster in zip(inherits.old[merged], inherits.cluster[merged], strict=True)
    ]
    moved = counts[counts.cluster.to_numpy() != heir.reindex(counts[key]).to_numpy()]
    found += [
        ("split", int(old), int(cluster))
        for old, cluster in zip(moved[key], moved.cluster, strict=True)
    ]
    evidence = _evidence(keyed, {cluster for _, _, cluster in found})
    changes = [(kind, old, int(cluster_key[c]), evidence.get(c, "")) for kind, old, c in found]
    return keyed.cluster.astype(int).map(cluster_key).astype("int64"), changes


def _evidence(keyed: pd.DataFrame, clusters: set[int]) -> dict[int, str]:
    """The rules that linked each of `clusters` (only those: there are few changes a night)."""
    sub = keyed[keyed.cluster.isin(clusters)]
    return (
        sub.groupby("cluster")
        .evidence.agg(lambda s: ",".join(sorted(set(s.fillna("")) - {"", "singleton"})))
        .to_dict()
    )


def assign_stable_keys(
    linked: pd.DataFrame, previous: pd.DataFrame
) -> tuple[pd.DataFrame, list[Change]]:
    """customer_key per record of `linked` (source_system, source_customer_id, cluster,
    match_rule) reusing the keys of `previous`; returns (map, changes)."""
    item = ["source_system", "source_customer_id"]
    members = linked[[*item, "cluster"]].assign(
        evidence=linked.get("match_rule", pd.Series("", index=linked.index))
    )
    keys, changes = stable_keys(members, previous, item, "customer_key")
    out = linked.drop(columns=["cluster"]).reset_index(drop=True)
    out["customer_key"] = keys.to_numpy()
    return out, changes


def key_lookup(current_keys: np.ndarray, history: pd.DataFrame) -> pd.DataFrame:
    """Every key ever issued -> the key that now stands for it (merged keys follow their merge
    chain; a key that was split keeps resolving to the part that kept it)."""
    current = {int(k) for k in current_keys}
    target = {int(k): int(k) for k in current}
    merges = history[history.change_type == "merge"].sort_values("changed_at")
    follow = dict(
        zip(merges.old_customer_key.astype(int), merges.new_customer_key.astype(int), strict=True)
    )
    for old in follow:
        k, seen = old, set()
        while k in follow and k not in current and k not in seen:
            seen.add(k)
            k = follow[k]
        target[old] = k
    return pd.DataFrame(
        {"customer_key": list(target), "current_customer_key": list(target.values())}
    ).sort_values("customer_key", ignore_index=True)


def write_key_lookup(con: duckdb.DuckDBPyConnection, current_keys: np.ndarray) -> None:
    """Rewrite core.customer_key_lookup: every key ever issued -> its current key (keys that no
    longer appear in the history keep their last answer)."""
    history = con.execute(f"select * from {SCHEMA}.{KEY_CHANGES}").df()
    lookup = key_lookup(current_keys, history)
    previous = con.execute(f"select * from {SCHEMA}.{KEY_LOOKUP}").df()
    lookup = pd.concat([lookup, previous[~previous.customer_key.isin(lookup.customer_key)]])
    replace_rows(con, KEY_LOOKUP, lookup, ["customer_key", "current_customer_key"])
