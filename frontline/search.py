"""`cif customer find`: a customer by name (despite a typo), e-mail, phone, national id, any
source system's customer number, or customer key (old keys resolve after a merge).

The query is normalised the way frontline.customer_search normalised every value a source
sent; exact keys are looked up first (the table is sorted by kind and value, so DuckDB reads
only the row groups that can hold them). Names are then searched despite a typo: the names
with a word at most one typo from a query word (a deletion index, frontline.name_word_variants)
are compared by Jaro-Winkler similarity, in both orders ("Lee Ann" finds Ann Lee), or word by
word for a single word; so a lookup scores a few names, not all of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

SEARCH_TABLE = "frontline.customer_search"
WORDS_TABLE = "frontline.customer_name_words"
VARIANTS_TABLE = "frontline.name_word_variants"
NAME_SIMILARITY = 0.88  # Jaro-Winkler: one typo in a short name scores about 0.9
DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class Match:
    customer_key: int
    score: float  # 1.0 exact
    matched_on: str  # kind of key: name, email, phone, national_id, source_id, customer_key


def exact_keys(text: str) -> list[tuple[str, str]]:
    """(kind, normalised value) pairs the text could be. Names are left to by_similar_name
    (an exact name scores 1 there); national ids and phones have digits, phones no letters."""
    plain = text.strip()
    keys = [("source_id", plain.lower())]
    digits = DIGITS.sub("", plain)
    if "@" in plain:
        keys.append(("email", plain.lower()))
        return keys
    if len(digits) >= 7 and not re.search(r"[A-Za-z]", plain):
        keys.append(("phone", digits[-10:]))
    if digits:  # a company registration number may be digits only
        keys.append(("national_id", re.sub(r"[^A-Za-z0-9]", "", plain).upper()))
    return keys


def looks_like_a_name(text: str) -> bool:
    return bool(re.fullmatch(r"[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_]+)*\.?", text.strip()))


def by_customer_key(con: duckdb.DuckDBPyConnection, text: str) -> list[Match]:
    """A customer key, resolved through core.customer_key_lookup (merged keys)."""
    if not text.strip().isdigit() or len(text.strip()) > 18:
        return []
    row = con.execute(
        "select current_customer_key from core.customer_key_lookup where customer_key = ?",
        [int(text.strip())],
    ).fetchone()
    return [Match(int(row[0]), 1.0, "customer_key")] if row else []


def by_exact_key(con: duckdb.DuckDBPyConnection, text: str) -> list[Match]:
    keys = exact_keys(text)
    where = " or ".join("(kind = ? and search_value = ?)" for _ in keys)
    rows = con.execute(
        f"select customer_key, min(kind) from {SEARCH_TABLE} where {where} group by customer_key",
        [v for pair in keys for v in pair],
    ).fetchall()
    return [Match(int(key), 1.0, kind) for key, kind in rows]


def deletions(word: str) -> set[str]:
    """The word and each one-letter deletion of it (as name_word_variants holds them)."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))} - {""}


def by_similar_name(con: duckdb.DuckDBPyConnection, text: str, limit: int) -> list[Match]:
    """Names with a word at most one typo from a word of the query (found through the
    deletion index), scored by Jaro-Winkler on the whole name, in both orders, or word by word
    for a single word."""
    words = text.lower().split()
    query = " ".join(words)
    if len(words) == 1:
        score = "jaro_winkler_similarity(named.word, $q)"
    else:
        score = (
            "greatest(jaro_winkler_similarity(named.full_name, $q), "
            "jaro_winkler_similarity(named.full_name, $swapped))"
        )
    params = {
        "q": query,
        "variants": sorted({v for w in words for v in deletions(w)}),
        "threshold": NAME_SIMILARITY,
        "limit": limit,
    }
    if len(words) > 1:
        params["swapped"] = " ".join(words[1:] + words[:1])
    rows = con.execute(
        f"with near as (select distinct word from {VARIANTS_TABLE} "
        "where variant in (select unnest($variants))) "
        # the threshold in `having`: a filter in `where` would be scored on every name
        f"select named.customer_key, max({score}) as score from {WORDS_TABLE} as named "
        "where named.word in (select word from near) group by named.customer_key "
        "having score >= $threshold order by score desc, named.customer_key limit $limit",
        params,
    ).fetchall()
    return [Match(int(key), round(float(score), 3), "name") for key, score in rows]


def find(
    con: duckdb.DuckDBPyConnection, text: str, limit: int = 10, personal: bool = True
) -> list[Match]:
    """The customers `text` may mean, best first. Without `personal` (analysts) only customer
    keys are searched: finding by a name or an e-mail would undo the pseudonyms."""
    if not text.strip():
        return []
    found = {m.customer_key: m for m in by_customer_key(con, text)}
    if personal:
        for match in by_exact_key(con, text):
            found.setdefault(match.customer_key, match)
        if looks_like_a_name(text):
            for match in by_similar_name(con, text, limit):
                found.setdefault(match.customer_key, match)
    ranked = sorted(found.values(), key=lambda m: (-m.score, m.customer_key))
    return ranked[:limit]
