"""The prior and the u probabilities refitted to a newly trained model's scored pairs.

Random sampling estimates u (how often two records that are not one person agree) from random
pairs, matches included, and deterministic rules estimate the prior by assuming their recall.
Both go wrong where matches are not rare among the pairs that agree: on FEBRL4, 70% of the
random pairs sharing a birth date were true matches, so an equal birth date weighed 3 bits too
little; in a CRM of 75 records every shared birth date is a duplicate. So, once m and u are
trained, the candidate pairs are grouped by their comparison levels and the prior and u are
iterated to a fixed point (expectation maximisation with m kept): each pattern's match
probability, the prior as the expected share of matches among all pairs, u from the pairs
that remain when the expected matches are taken out. Pairs never scored (outside the blocking
rules, or below FIT_FLOOR) are taken as non-matches.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

# A record takes part in a comparison when it knows any of these fields (the null level of
# each comparison in model.py is the contrary: neither record of the pair knows one).
KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("given", "surname"),
    "birth": ("birth_year",),
    "national_id": ("national_id",),
    "email": ("email",),
    "phone": ("phone",),
    "address": ("postcode_key",),
}
ITERATIONS = 100
# The comparisons whose u is refitted: evidence of one person. Agreement on an address, an
# e-mail or a landline is as common among the members of a household as among a person's
# records; refitted, those weighed more and joined household members (20k demo: person
# precision 0.990 -> 0.988).
PERSONAL = ("name", "birth", "national_id")


def refit(
    con: duckdb.DuckDBPyConnection,
    table: str,
    settings: dict,
    records: pd.DataFrame,
    vetoed: str,
    sampled: float,
) -> pd.DataFrame:
    """Refit the prior and u of `settings` (in place) to Splink's scored pairs in `table` (with
    gamma_* columns) of `records`, leaving out the pairs matching the SQL condition `vetoed`
    (u came from `sampled` random pairs); returns the level patterns (gamma_* columns) with
    their match_probability."""
    names = [c["output_column_name"] for c in settings["comparisons"]]
    gammas = ", ".join(f"gamma_{n}" for n in names)
    patterns = con.execute(
        f"select {gammas}, count(*) as n, bool_or({vetoed}) as vetoed from {table} group by all"
    ).df()
    if patterns.empty:
        return patterns.assign(match_probability=[])
    m, u = _levels(settings, "m_probability"), _levels(settings, "u_probability")
    known = _known_pairs(records, names)
    total = len(records) * (len(records) - 1) / 2
    prior = settings["probability_two_random_records_match"]
    count = patterns.n.to_numpy(dtype=float) * ~patterns.vetoed.to_numpy(dtype=bool)
    fitted = dict(u)
    for _ in range(ITERATIONS):
        probability = _probability(patterns, names, m, fitted, prior)
        expected = count * probability
        previous, prior = prior, min(max(expected.sum() / total, 1e-12), 0.5)
        fitted = {
            n: _non_match_u(u[n], patterns[f"gamma_{n}"], expected, known[n], sampled)
            if n in PERSONAL
            else u[n]
            for n in names
        }
        if abs(prior - previous) <= 1e-6 * previous:
            break
    settings["probability_two_random_records_match"] = prior
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        by_gamma = fitted[comparison["output_column_name"]]
        for level, value in zip(levels, by_gamma[::-1], strict=True):
            level["u_probability"] = float(value)
    return patterns.assign(match_probability=_probability(patterns, names, m, fitted, prior))


def _levels(settings: dict, key: str) -> dict[str, np.ndarray]:
    """Per comparison, `key` of each non-null level indexed by its gamma value (0 = the last)."""
    out = {}
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        out[comparison["output_column_name"]] = np.array([lv[key] for lv in levels][::-1])
    return out


def _known_pairs(records: pd.DataFrame, names: list[str]) -> dict[str, float]:
    """Per comparison, how many record pairs it compares (both records know a field)."""
    out = {}
    for name in names:
        fields = [f for f in KNOWN_FIELDS[name] if f in records]
        k = int(records[fields].notna().any(axis=1).sum()) if fields else 0
        out[name] = k * (k - 1) / 2
    return out


def _probability(patterns, names, m, u, prior) -> np.ndarray:
    """Match probability of each pattern under m, u and the prior (a null level weighs 0)."""
    log_odds = np.full(len(patterns), np.log2(prior / (1 - prior)))
    for name in names:
        gamma = patterns[f"gamma_{name}"].to_numpy(dtype=int)
        seen = gamma >= 0
        log_odds[seen] += np.log2(m[name][gamma[seen]] / u[name][gamma[seen]])
    return 1 / (1 + np.exp2(-log_odds))


def _non_match_u(
    u: np.ndarray, gamma: pd.Series, expected: np.ndarray, pairs: float, sampled: float
):
    """u per level once the expected matches are taken out of the `pairs` compared, whose
    level shares `u` came from `sampled` random pairs; never below half a sampled pair (what
    sampling could not tell from zero stays as uncertain as it was), renormalised."""
    if pairs <= 0:
        return u
    matched = np.bincount(gamma[gamma >= 0], weights=expected[gamma >= 0], minlength=len(u))
    counts = np.maximum(u * pairs - matched[: len(u)], 0.5 * pairs / min(sampled, pairs))
    return counts / counts.sum()
