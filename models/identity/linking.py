"""Records -> clusters: deterministic rule edges plus probabilistic pairs, connected."""

from __future__ import annotations

from collections import Counter

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
    free: np.ndarray | None = None,
    compared: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    """Cluster labels from `left`/`right` edges taken strongest first (`order`), skipping an
    edge that would join two clusters whose national ids, or birth years, have nothing in
    common, unless two records holding them were compared with each other and matched
    (`compared`: left and right positions of the probabilistic pairs; their disagreement was
    weighed against everything else they share) and one of the two values rests on a single
    record (_clash). So a typo in one record's national id or birth date does not keep it from
    its match, but one weak link never chains two people together through a third record.
    Edges marked `free` (a shared national id) are never skipped. A label is the smallest
    member's position (a union keeps the smaller root). Returns the labels and the number of
    edges refused.

    Only connected components holding two national ids or two birth years can refuse an edge;
    all others are labelled at once (vectorised) and only the conflicting ones are walked edge
    by edge, with the same result as walking every edge."""
    free = np.zeros(len(left), dtype=bool) if free is None else free
    plain = components(n, left, right)
    conflicting = _conflicting(plain, national_id) | _conflicting(plain, birth_year)
    nodes = np.flatnonzero(conflicting[plain])
    edges = order[np.isin(order, np.flatnonzero(conflicting[plain[left]]))]
    labels = plain.copy()
    cl, cr = compared if compared is not None else (np.zeros(0, int), np.zeros(0, int))
    inside = conflicting[plain[cl]]
    matched = set(
        zip(
            np.minimum(cl[inside], cr[inside]).tolist(),
            np.maximum(cl[inside], cr[inside]).tolist(),
            strict=True,
        )
    )
    labels[nodes], refused = _walk_constrained(
        nodes, (left[edges], right[edges], free[edges]), national_id, birth_year, matched
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
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    national_id: np.ndarray,
    birth_year: np.ndarray,
    compared: set[tuple[int, int]],
) -> tuple[np.ndarray, int]:
    """Union-find over `nodes` with the edges (left, right, free) in the order given (strongest
    first), refusing conflicting unions (see constrained_components); the label of each of
    `nodes` and the refusals."""
    parent = {int(i): int(i) for i in nodes}

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    # per root: the (record, value) pairs of its members that know a national id / birth year
    held = [
        {int(i): [(int(i), values[i])] for i in nodes if pd.notna(values[i])}
        for values in (national_id, birth_year)
    ]
    refused = 0
    for a, b, free in zip(*(e.tolist() for e in edges), strict=True):
        a, b = find(a), find(b)
        if a == b:
            continue
        if not free and any(_clash(h.get(a, ()), h.get(b, ()), compared) for h in held):
            refused += 1
            continue
        if a > b:
            a, b = b, a
        parent[b] = a
        for h in held:
            if b in h:
                h[a] = h.get(a, []) + h.pop(b)
    return np.array([find(int(i)) for i in nodes], dtype="int64"), refused


def _clash(ours: list, theirs: list, compared: set[tuple[int, int]]) -> bool:
    """Do two sides, each holding (record, value) pairs, disagree? Not when either knows no
    value or they share one. Otherwise only a direct match between two holders, one of each
    side, can explain the difference as a typo, and only if one side's value rests on a
    single record: two customers whose values are each confirmed by a second record of their
    own are two people."""
    if not ours or not theirs or {v for _, v in ours} & {v for _, v in theirs}:
        return False
    direct = any((min(i, j), max(i, j)) in compared for i, _ in ours for j, _ in theirs)
    return not direct or (_confirmed(ours) and _confirmed(theirs))


def _confirmed(members: list) -> bool:
    """Does some value of `members` rest on two records or more?"""
    return max(Counter(v for _, v in members).values()) > 1


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
    pl, pr, probability = _pair_positions(records, pairs)
    # deterministic links first, then probabilistic ones from the most to the least likely
    left = np.concatenate([edges.left.to_numpy(), pl])
    right = np.concatenate([edges.right.to_numpy(), pr])
    order = np.argsort(-np.concatenate([np.full(len(edges), 2.0), probability]), kind="stable")
    free = np.concatenate([(edges.rule == "national_id").to_numpy(), np.zeros(len(pl), bool)])
    values = {
        col: records[col].to_numpy() if col in records else np.full(n, None)
        for col in ("national_id", "birth_year")
    }
    cluster, _ = constrained_components(
        n, left, right, order, values["national_id"], values["birth_year"], free, (pl, pr)
    )
    probabilistic = np.zeros(n, dtype=bool)
    same = cluster[pl] == cluster[pr]
    probabilistic[pl[same]] = probabilistic[pr[same]] = True
    rule_of[probabilistic & (rule_of == "singleton")] = "probabilistic"
    cluster, attached = attach_nameless(records, cluster)
    rule_of[attached] = "contact_of_named_record"
    out = records.copy()
    out["cluster"] = cluster
    out["match_rule"] = rule_of
    return out


def _pair_positions(
    records: pd.DataFrame, pairs: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left position, right position, match probability) of the `pairs` whose records are
    both still there."""
    if pairs is None or not len(pairs):
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64"), np.zeros(0)
    uid = pd.Index(records.uid)  # positions by uid; -1 for a record no longer there
    pl, pr = uid.get_indexer(pairs.uid_l), uid.get_indexer(pairs.uid_r)
    ok = (pl >= 0) & (pr >= 0)
    return pl[ok], pr[ok], pairs.match_probability.to_numpy(dtype=float)[ok]
