"""Records -> clusters: deterministic rule edges plus probabilistic pairs, connected."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ingest.identity.rules import attach_nameless, rule_edges


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per node (the smallest node position in its component)."""
    if n == 0:
        return np.zeros(0, dtype="int64")
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    smallest = pd.Series(np.arange(n)).groupby(labels).transform("min").to_numpy()
    return smallest.astype("int64")


def link_records(records: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cluster records by the deterministic rules and the probabilistic `pairs` (uid_l, uid_r).

    Adds `cluster` and `match_rule` (the first rule that linked the record, 'probabilistic',
    'contact_of_named_record' for nameless records attached to a customer, or 'singleton')."""
    records = records.reset_index(drop=True)
    for col in ("given", "surname", "party_type", "email_user", "first_seen_at"):
        if col not in records:
            records[col] = None
    n = len(records)
    edges = rule_edges(records)
    rule_of = np.array(["singleton"] * n, dtype=object)
    for rule in edges.rule.unique()[::-1]:
        hit = edges[edges.rule == rule]
        rule_of[np.concatenate([hit.left.to_numpy(), hit.right.to_numpy()])] = rule
    left, right = [edges.left.to_numpy()], [edges.right.to_numpy()]
    if pairs is not None and len(pairs):
        pos = pd.Series(np.arange(n), index=records.uid.to_numpy())
        ok = pairs.uid_l.isin(pos.index) & pairs.uid_r.isin(pos.index)
        pl, pr = pos[pairs.uid_l[ok]].to_numpy(), pos[pairs.uid_r[ok]].to_numpy()
        left.append(pl)
        right.append(pr)
        for side in (pl, pr):
            rule_of[side] = np.where(rule_of[side] == "singleton", "probabilistic", rule_of[side])
    cluster = components(n, np.concatenate(left), np.concatenate(right))
    cluster, attached = attach_nameless(records, cluster)
    rule_of[attached] = "contact_of_named_record"
    out = records.copy()
    out["cluster"] = cluster
    out["match_rule"] = rule_of
    return out
