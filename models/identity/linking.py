"""Records -> clusters: deterministic rule edges plus probabilistic pairs, connected."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from models.identity.rules import attach_nameless, rule_edges


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per node (the smallest node position in its component)."""
    if n == 0:
        return np.zeros(0, dtype="int64")
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    smallest = pd.Series(np.arange(n)).groupby(labels).transform("min").to_numpy()
    return smallest.astype("int64")


def constrained_components(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    order: np.ndarray,
    national_id: np.ndarray,
    birth_year: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Cluster labels from `left`/`right` edges taken strongest first (`order`), skipping an
    edge that would put two national ids, or records born in different years, into one
    cluster: one weak link must not chain two people together. A label is the smallest
    member's position (a union keeps the smaller root). Returns the labels and the number of
    edges refused.

    Only connected components holding two national ids or two birth years can refuse an edge;
    all others are labelled at once (vectorised) and only the conflicting ones are walked edge
    by edge, with the same result as walking every edge."""
    plain = components(n, left, right)
    conflicting = _conflicting(plain, national_id) | _conflicting(plain, birth_year)
    nodes = np.flatnonzero(conflicting[plain])
    edges = order[np.isin(order, np.flatnonzero(conflicting[plain[left]]))]
    labels = plain.copy()
    labels[nodes], refused = _walk_constrained(
        nodes, left[edges], right[edges], national_id, birth_year
    )
    return labels, refused


def _conflicting(label: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per position: does the component labelled there hold two distinct known `values`?"""
    known = pd.notna(values)
    out = np.zeros(len(label), dtype=bool)
    if known.any():
        distinct = pd.DataFrame({"c": label[known], "v": values[known]}).groupby("c").v.nunique()
        out[distinct.index[distinct.to_numpy() > 1].to_numpy()] = True
    return out


def _walk_constrained(
    nodes: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    national_id: np.ndarray,
    birth_year: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Union-find over `nodes` with the edges `left`/`right` in the order given (strongest
    first), refusing conflicting unions; the label of each of `nodes` and the refusals."""
    parent = {int(i): int(i) for i in nodes}

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    ids = {int(i): {national_id[i]} for i in nodes if pd.notna(national_id[i])}
    years = {int(i): {int(birth_year[i])} for i in nodes if pd.notna(birth_year[i])}
    refused = 0
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        a, b = find(a), find(b)
        if a == b:
            continue
        ia, ib, ya, yb = ids.get(a), ids.get(b), years.get(a), years.get(b)
        if (ia and ib and not ia & ib) or (ya and yb and not ya & yb):
            refused += 1
            continue
        if a > b:
            a, b = b, a
        parent[b] = a
        for sets in (ids, years):
            if b in sets:
                sets[a] = sets.get(a, set()) | sets.pop(b)
    return np.array([find(int(i)) for i in nodes], dtype="int64"), refused


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
    # deterministic links first, then probabilistic ones from the most to the least likely
    strength = [np.full(len(edges), 2.0)]
    if pairs is not None and len(pairs):
        uid = pd.Index(records.uid)  # positions by uid; -1 for a record no longer there
        pl, pr = uid.get_indexer(pairs.uid_l), uid.get_indexer(pairs.uid_r)
        ok = (pl >= 0) & (pr >= 0)
        left.append(pl[ok])
        right.append(pr[ok])
        strength.append(pairs.match_probability.to_numpy(dtype=float)[ok])
    left_all, right_all = np.concatenate(left), np.concatenate(right)
    order = np.argsort(-np.concatenate(strength), kind="stable")
    national_id = (
        records["national_id"].to_numpy() if "national_id" in records else np.full(n, None)
    )
    birth_year = records["birth_year"].to_numpy() if "birth_year" in records else np.full(n, None)
    cluster, _ = constrained_components(n, left_all, right_all, order, national_id, birth_year)
    if len(left) > 1:
        probabilistic = np.zeros(n, dtype=bool)
        same = cluster[left[1]] == cluster[right[1]]
        probabilistic[left[1][same]] = probabilistic[right[1][same]] = True
        rule_of[probabilistic & (rule_of == "singleton")] = "probabilistic"
    cluster, attached = attach_nameless(records, cluster)
    rule_of[attached] = "contact_of_named_record"
    out = records.copy()
    out["cluster"] = cluster
    out["match_rule"] = rule_of
    return out
