"""Probabilistic matching with Splink (DuckDB backend on the warehouse's own connection).

Each piece of evidence is compared once: names (one comparison over forename and surname, with
swaps and typos), birth date / year, national id, e-mail, phone, and address (street with
postcode, one comparison: the city would repeat the postcode's evidence). Disagreement on a
national id or a birth date is evidence against a match, weighed like any other, not a wall.
Blocking tolerates typos (several rules, each on a pair of fields, names also by their first
three letters) and keeps the candidate pairs near-linear at 1M records. The trained model
(Splink's settings JSON) is kept in core.identity_model and reused by nightly runs until the
population has grown markedly.
"""

from __future__ import annotations

import contextlib
import json
import logging

import duckdb
import numpy as np
import pandas as pd

from models.identity.refit import refit
from models.identity.tables import MODEL as MODEL_TABLE
from models.identity.tables import SCHEMA

MODEL_VERSION = "6"  # bump when the comparisons or blocking below change: forces retraining
MATCH_PROBABILITY = 0.7
COLUMNS = [
    "uid",
    "given",
    "surname",
    "date_of_birth",
    "birth_year",
    "national_id",
    "email",
    "email_user",
    "phone",
    "phone_kind",
    "postcode_key",
    "address_key",
    "street_key",
    "city_key",
    "party_type",
]


def _level(sql: str, label: str, m: float | None = None) -> dict:
    out: dict = {"sql_condition": sql, "label_for_charts": label}
    if m is None:
        out["is_null_level"] = True
    else:
        out["m_probability"] = m
    return out


def _similar(left: str, right: str, at: float = 0.88) -> str:
    return f'jaro_winkler_similarity("{left}", "{right}") >= {at}'


SIMILAR_GIVEN = _similar("given_l", "given_r")
SIMILAR_SURNAME = _similar("surname_l", "surname_r")
# name levels where both forenames are known and neither alike nor swapped (see predict)
FORENAMES_DISAGREE = ("surname only", "different")


def _name() -> dict:
    return {
        "output_column_name": "name",
        "comparison_levels": [
            _level(
                '("given_l" is null and "surname_l" is null) '
                'or ("given_r" is null and "surname_r" is null)',
                "null",
            ),
            _level('"given_l" = "given_r" and "surname_l" = "surname_r"', "exact", 0.80),
            _level('"given_l" = "surname_r" and "surname_l" = "given_r"', "swapped", 0.01),
            _level(f"{SIMILAR_GIVEN} and {SIMILAR_SURNAME}", "both similar", 0.05),
            _level(
                f"{_similar('given_l', 'surname_r')} and {_similar('surname_l', 'given_r')}",
                "swapped, similar",
                0.01,
            ),
            _level(
                f'{SIMILAR_GIVEN} and ("surname_l" is null or "surname_r" is null)',
                "forename, surname missing",
                0.04,
            ),
            _level(
                f'{SIMILAR_SURNAME} and ("given_l" is null or "given_r" is null)',
                "surname, forename missing",
                0.03,
            ),
            _level(SIMILAR_GIVEN, "forename only (surname changed)", 0.035),
            _level('"surname_l" = "surname_r"', "surname only", 0.01),
            _level("ELSE", "different", 0.015),
        ],
    }


def _birth() -> dict:
    return {
        "output_column_name": "birth",
        "comparison_levels": [
            _level('"birth_year_l" is null or "birth_year_r" is null', "null"),
            _level('"date_of_birth_l" = "date_of_birth_r"', "same date", 0.85),
            # a typo or a swap confined to one of year, month and day (string comparisons:
            # an edit distance over every candidate pair cost seconds)
            _level(
                " + ".join(
                    f'cast(substr("date_of_birth_l", {at}, {n}) = '
                    f'substr("date_of_birth_r", {at}, {n}) as int)'
                    for at, n in ((1, 4), (6, 2), (9, 2))
                )
                + ' = 2 or (substr("date_of_birth_l", 1, 4) = substr("date_of_birth_r", 1, 4) '
                'and substr("date_of_birth_l", 6, 2) = substr("date_of_birth_r", 9, 2) '
                'and substr("date_of_birth_l", 9, 2) = substr("date_of_birth_r", 6, 2))',
                "date typo",
                0.03,
            ),
            _level(
                '"birth_year_l" = "birth_year_r" '
                'and ("date_of_birth_l" is null or "date_of_birth_r" is null)',
                "same year, one date unknown",
                0.1,
            ),
            _level("ELSE", "different", 0.02),
        ],
    }


def _national_id() -> dict:
    return {
        "output_column_name": "national_id",
        "comparison_levels": [
            _level('"national_id_l" is null or "national_id_r" is null', "null"),
            _level('"national_id_l" = "national_id_r"', "exact", 0.95),
            _level('damerau_levenshtein("national_id_l", "national_id_r") <= 1', "typo", 0.03),
            _level("ELSE", "different", 0.02),
        ],
    }


def _contacts() -> list[dict]:
    email = {
        "output_column_name": "email",
        "comparison_levels": [
            _level('"email_l" is null or "email_r" is null', "null"),
            _level('"email_l" = "email_r"', "exact", 0.7),
            _level('"email_user_l" = "email_user_r"', "same user, other domain", 0.05),
            _level("ELSE", "different", 0.25),
        ],
    }
    phone = {
        "output_column_name": "phone",
        "comparison_levels": [
            _level('"phone_l" is null or "phone_r" is null', "null"),
            _level('"phone_l" = "phone_r"', "exact", 0.7),
            # a mobile and a landline say nothing against each other: people have both
            _level('"phone_kind_l" != "phone_kind_r"', "mobile vs landline", 0.1),
            _level("ELSE", "different", 0.2),
        ],
    }
    return [email, phone]


def _address() -> dict:
    return {
        "output_column_name": "address",
        "comparison_levels": [
            _level('"postcode_key_l" is null or "postcode_key_r" is null', "null"),
            _level(
                '"postcode_key_l" = "postcode_key_r" and "address_key_l" = "address_key_r"',
                "same address",
                0.75,
            ),
            _level(
                f'"postcode_key_l" = "postcode_key_r" and '
                f"{_similar('address_key_l', 'address_key_r', 0.9)}",
                "same postcode, similar street",
                0.05,
            ),
            _level(_similar("address_key_l", "address_key_r", 0.92), "similar street", 0.03),
            _level('"postcode_key_l" = "postcode_key_r"', "same postcode", 0.04),
            _level(_similar("street_key_l", "street_key_r", 0.92), "same street elsewhere", 0.02),
            _level('"city_key_l" = "city_key_r"', "same town", 0.02),
            _level(
                'damerau_levenshtein("postcode_key_l", "postcode_key_r") <= 1',
                "postcode typo",
                0.01,
            ),
            _level("ELSE", "different", 0.08),
        ],
    }


def _comparisons() -> list[dict]:
    """The comparisons with declared m probabilities (how often a true match lands in each
    level): the starting point of training, and a tenth of every estimate (see train), so
    that no level is impossible."""
    return [_name(), _birth(), _national_id(), *_contacts(), _address()]


def _first3(column: str) -> str:
    return f"substr(l.{column}, 1, 3) = substr(r.{column}, 1, 3)"


def _swapped3() -> str:
    return (
        "substr(l.given, 1, 3) = substr(r.surname, 1, 3) "
        "and substr(l.surname, 1, 3) = substr(r.given, 1, 3)"
    )


# Candidate pairs: each rule is an equality join, so pairs grow with the block sizes, not n^2.
# Each rule pairs two fields, names also by their first three letters, so that a record with a
# typo or a gap in any one or two fields still meets its match through the others.
BLOCKING_RULES = [
    "l.national_id = r.national_id",
    "l.email = r.email",
    "l.phone = r.phone",
    "l.email_user = r.email_user",
    # with the forename's initial: at 1M people a surname and birth year alone are large blocks
    "l.surname = r.surname and l.birth_year = r.birth_year "
    "and substr(l.given, 1, 1) = substr(r.given, 1, 1)",
    "l.given = r.given and l.birth_year = r.birth_year "
    "and substr(l.surname, 1, 1) = substr(r.surname, 1, 1)",
    "l.given = r.given and l.date_of_birth = r.date_of_birth",
    "substr(l.given, 1, 1) = substr(r.given, 1, 1) and l.date_of_birth = r.date_of_birth",
    f"{_first3('surname')} and l.date_of_birth = r.date_of_birth",
    f"{_first3('given')} and {_first3('surname')} "
    "and substr(l.postcode_key, 1, 1) = substr(r.postcode_key, 1, 1)",
    f"{_first3('surname')} and l.postcode_key = r.postcode_key",
    f"{_first3('given')} and l.postcode_key = r.postcode_key",
    f"{_first3('surname')} and l.address_key = r.address_key",
    "l.postcode_key = r.postcode_key and l.address_key = r.address_key",
    "l.date_of_birth = r.date_of_birth and l.postcode_key = r.postcode_key",
    "l.date_of_birth = r.date_of_birth and l.address_key = r.address_key",
    "l.given = r.surname and l.surname = r.given",
    # swapped names with a typo, in two narrower blocks: on the prefixes alone (Wil-Tho against
    # Tho-Wil is common) the rule made 44.5M of 141M candidate pairs at 1M customers; the two
    # reach every true pair it reached on FEBRL3 and FEBRL4, and all but 0.04% on the demo
    f"{_swapped3()} and l.birth_year = r.birth_year",
    f"{_swapped3()} and substr(l.postcode_key, 1, 1) = substr(r.postcode_key, 1, 1)",
]


def base_settings() -> dict:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "uid",
        "probability_two_random_records_match": 0.0005,
        "comparisons": _comparisons(),
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": rule} for rule in BLOCKING_RULES
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,
        "additional_columns_to_retain": [],
    }


def _quiet() -> None:
    logging.getLogger("splink").setLevel(logging.WARNING)


def _api(con: duckdb.DuckDBPyConnection):
    from splink import DuckDBAPI

    return DuckDBAPI(con)


# Rules that link records about as surely as a person would: the share of pairs they find
# (divided by their assumed recall) estimates the prior. Any rule the data allows takes part.
PRIOR_RULES = [
    "l.national_id = r.national_id and l.party_type = r.party_type",
    "l.email = r.email and l.given = r.given",
    "l.phone = r.phone and l.given = r.given",
    "l.given = r.given and l.surname = r.surname and l.date_of_birth = r.date_of_birth",
]
PRIOR_RECALL = 0.7
# Random record pairs for the u probabilities, in one sample
U_MAX_PAIRS = 1e6
# Expectation maximisation on blocked pairs: each round blocks on equal values of its fields
# and estimates the comparisons that do not use them (together, every comparison); a round
# with fewer than MIN_EM_PAIRS pairs is skipped, a larger one sampled to EM_MAX_PAIRS pairs.
EM_BLOCKS = [("date_of_birth",), ("given", "surname")]
MIN_EM_PAIRS = 50
EM_MAX_PAIRS = 2e6


def train(con: duckdb.DuckDBPyConnection, records: pd.DataFrame, seed: int = 42) -> dict:
    """Estimate the model on `records`: the prior from deterministic rules, u by random
    sampling, m by expectation maximisation on blocked pairs, then, for every comparison with
    enough record pairs that deterministic rules link on other fields, m measured on those
    pairs instead (see M_LABEL_RULES). Every m keeps a tenth of its declared value."""
    from splink import Linker

    _quiet()
    db = _api(con)
    sdf = db.register(records[COLUMNS].copy())
    linker = Linker(sdf, base_settings(), log_level=None)
    # the rules may link more than PRIOR_RECALL of all pairs (a tiny population): then the
    # default prior stands, refitted with the rest (refit.py)
    with contextlib.suppress(ValueError):
        linker.training.estimate_probability_two_random_records_match(
            PRIOR_RULES, recall=PRIOR_RECALL
        )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=U_MAX_PAIRS, seed=seed, min_count_per_level=None, num_chunks=1
    )
    settings = linker.misc.save_model_to_json()
    prior = settings.get("probability_two_random_records_match") or 0.0
    _fill_unobserved_u(settings, min(U_MAX_PAIRS, len(records) * (len(records) - 1) / 2))
    # Splink's check of the settings' columns against the frame (it only warns) ran on the first
    # linker; those below change parameters only (each check took about 50 ms of training).
    linker = Linker(sdf, settings, log_level=None, validate_settings=False)
    for fields in EM_BLOCKS:
        if _blocked_pairs(records, fields) >= MIN_EM_PAIRS:
            rule = " and ".join(f"l.{f} = r.{f}" for f in fields)
            before = linker.misc.save_model_to_json()
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, max_pairs=EM_MAX_PAIRS
                )
            except (ValueError, ZeroDivisionError):
                # a block where every pair agrees on everything (80 records of one name and
                # postcode) drives the in-block prior to 1 and Splink to a math domain error:
                # that round teaches nothing, the model stays as it was before it
                linker = Linker(sdf, before, log_level=None, validate_settings=False)
    settings = linker.misc.save_model_to_json()
    _estimate_m_from_rules(db, sdf, records, settings)
    _keep_declared_share(settings)
    _keep_declared_m(settings, DECLARED_M)
    # A population with no deterministic matches estimates a prior of 0, which Splink cannot
    # turn into a match weight: start from the default prior.
    settings["probability_two_random_records_match"] = (
        prior if 0.0 < prior < 1.0 else base_settings()["probability_two_random_records_match"]
    )
    _drop_splink_tables(con)
    return settings


def _fill_unobserved_u(settings: dict, sampled: float) -> None:
    """Give a u probability to every level that no sampled random pair fell into (Splink would
    otherwise use arbitrary defaults): half of one in the sampled pairs, e.g. two random
    records sharing a national id. A comparison with no level observed at all (a field no
    record has) gets u = m: it says nothing until the model is trained on data that has it.
    In place on `settings`."""
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        if not any(lv.get("u_probability") for lv in levels):
            for lv in levels:
                lv["u_probability"] = lv["m_probability"]
            continue
        for lv in levels:
            lv["u_probability"] = lv.get("u_probability") or 0.5 / max(sampled, 1.0)
        total = sum(lv["u_probability"] for lv in levels)
        for lv in levels:
            lv["u_probability"] /= total


def _blocked_pairs(records: pd.DataFrame, fields: tuple[str, ...]) -> int:
    """How many record pairs agree on every one of `fields` (all known)."""
    sizes = records.dropna(subset=list(fields)).groupby(list(fields)).size()
    return int((sizes * (sizes - 1) // 2).sum())


# Which deterministic rules' pairs serve as labels for each comparison's m probabilities: never
# the rules that look at the comparison's own fields (an e-mail rule says nothing about how often
# true matches disagree on e-mail).
M_LABEL_RULES: dict[str, tuple[str, ...]] = {
    "name": ("national_id",),
    "birth": ("national_id", "email_and_name", "phone_and_name", "customer_number"),
    "national_id": ("email_and_name", "phone_and_name", "customer_number"),
    "email": ("national_id", "phone_and_name", "customer_number"),
    "address": ("national_id", "email_and_name", "phone_and_name", "customer_number"),
}
# The phone keeps its declared m: the pairs there are to learn from (rule-linked, or blocked on
# a birth date or a name) mostly come from systems fed by one phone master, while one person's
# records in other systems often carry another number (a new phone behind a second app profile,
# a mobile against the household landline). Learned on them, "different" got a third of the
# m a changed phone deserves (20k demo, person recall 0.932 learned by EM, 0.935 from the rules'
# pairs, 0.945 declared).
DECLARED_M = ("phone",)
MIN_LABEL_PAIRS = 200  # fewer labelled pairs than this: keep the estimate from the data
DECLARED_SHARE = 0.1  # the declared m values' share in every estimate (no level ever gets m = 0)


def _estimate_m_from_rules(db, frame, records: pd.DataFrame, settings: dict) -> None:
    """Set each comparison's m probabilities from the record pairs the deterministic rules link
    (M_LABEL_RULES) where there are enough of them; in place on `settings`."""
    from splink import Linker

    from models.identity.rules import rule_edges

    records = records.reset_index(drop=True)
    edges = rule_edges(records)
    # the m values describe people: organisations (a legal name and no forename) sharing a
    # registration number would teach the name comparison that a missing forename is usual
    person = (records.party_type == "person").to_numpy()
    edges = edges[person[edges.left.to_numpy()] & person[edges.right.to_numpy()]]
    uid = records.uid.to_numpy()
    labels = pd.DataFrame(
        {"uid_l": uid[edges.left.to_numpy()], "uid_r": uid[edges.right.to_numpy()]}
    )
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        subset = labels[edges.rule.isin(M_LABEL_RULES.get(name, ())).to_numpy()]
        if len(subset) < MIN_LABEL_PAIRS:
            continue
        # a fresh linker each time: Splink averages the m values of successive estimates
        fresh = Linker(frame, base_settings(), log_level=None, validate_settings=False)
        fresh.training.estimate_m_from_pairwise_labels(db.register(subset.reset_index(drop=True)))
        estimated = next(
            c
            for c in fresh.misc.save_model_to_json()["comparisons"]
            if c["output_column_name"] == name
        )
        for level, est in zip(
            comparison["comparison_levels"], estimated["comparison_levels"], strict=True
        ):
            if not level.get("is_null_level"):
                level["m_probability"] = est.get("m_probability") or 0.0


def _keep_declared_m(settings: dict, names: tuple[str, ...]) -> None:
    declared = {c["output_column_name"]: c for c in _comparisons()}
    for comparison in settings["comparisons"]:
        if comparison["output_column_name"] in names:
            for level, dec in zip(
                comparison["comparison_levels"],
                declared[comparison["output_column_name"]]["comparison_levels"],
                strict=True,
            ):
                if not level.get("is_null_level"):
                    level["m_probability"] = dec["m_probability"]


def _keep_declared_share(settings: dict) -> None:
    """Blend every m with its declared value (DECLARED_SHARE) and renormalise: a level that no
    training pair fell into keeps a small probability instead of an impossible 0."""
    declared = {c["output_column_name"]: c for c in _comparisons()}
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        prior = [
            lv
            for lv in declared[comparison["output_column_name"]]["comparison_levels"]
            if not lv.get("is_null_level")
        ]
        for level, dec in zip(levels, prior, strict=True):
            m = level.get("m_probability") or 0.0
            level["m_probability"] = (1 - DECLARED_SHARE) * m + DECLARED_SHARE * dec[
                "m_probability"
            ]
        total = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] /= total


def predict(
    con: duckdb.DuckDBPyConnection,
    settings: dict,
    records: pd.DataFrame,
    new: pd.Series | None = None,
    fit_prior: bool = False,
) -> pd.DataFrame:
    """Scored pairs (uid_l, uid_r, match_probability) above MATCH_PROBABILITY, but for those
    the forename veto drops (_veto_sql).

    With `new` (a boolean mask over `records`) only pairs touching a new or changed record
    are scored: new against existing records and new among themselves. With `fit_prior` (a
    newly trained model, every record compared) the prior is first fitted to the scored pairs,
    in place on `settings` (refit.py)."""
    from splink import Linker

    _quiet()
    if len(records) < 2 or (new is not None and not new.any()):
        return no_pairs()
    db = _api(con)
    frame = records[COLUMNS].copy()
    # the comparison levels (gamma_*) come with the matching columns: the veto reads them
    scoring = {**settings, "retain_matching_columns": True}
    floor = FIT_FLOOR if fit_prior else MATCH_PROBABILITY
    if new is None:
        linker = Linker(db.register(frame), scoring, log_level=None)
        tables = [linker.inference.predict(threshold_match_probability=floor)]
    else:
        fresh = db.register(frame[new.to_numpy()].reset_index(drop=True))
        known = db.register(frame[~new.to_numpy()].reset_index(drop=True))
        linker = Linker(fresh, scoring, log_level=None)
        tables = [linker.inference.predict_within(fresh, threshold_match_probability=floor)]
        if (~new).any():
            tables.append(
                linker.inference.predict_between(fresh, known, threshold_match_probability=floor)
            )
    if fit_prior:
        patterns = refit(
            con, tables[0].physical_name, settings, records, _veto_sql(settings), U_MAX_PAIRS
        )
        pairs = _pattern_matches(con, tables[0].physical_name, patterns, settings)
    else:
        pairs = pd.concat(
            [_matches(con, table.physical_name, settings) for table in tables],
            ignore_index=True,
        )
    _drop_splink_tables(con)
    return pairs


def no_pairs() -> pd.DataFrame:
    return pd.DataFrame({"uid_l": [], "uid_r": [], "match_probability": []}).astype(
        {"uid_l": str, "uid_r": str}
    )


def _matches(con: duckdb.DuckDBPyConnection, table: str, settings: dict) -> pd.DataFrame:
    """The pairs of a table of Splink's scored pairs that reach MATCH_PROBABILITY, less the
    vetoed ones."""
    return con.execute(
        f"select uid_l, uid_r, match_probability from {table} "
        f"where match_probability >= {MATCH_PROBABILITY} and not ({_veto_sql(settings)})"
    ).df()


def _pattern_matches(
    con: duckdb.DuckDBPyConnection, table: str, patterns: pd.DataFrame, settings: dict
) -> pd.DataFrame:
    """As _matches, with the probabilities of the refitted model, by level pattern."""
    gammas = [c for c in patterns.columns if c.startswith("gamma_")]
    con.register("_refitted_patterns", patterns[[*gammas, "match_probability"]])
    try:
        return con.execute(
            f"select t.uid_l, t.uid_r, p.match_probability from {table} t "
            f"join _refitted_patterns p using ({', '.join(gammas)}) "
            f"where p.match_probability >= {MATCH_PROBABILITY} and not ({_veto_sql(settings)})"
        ).df()
    finally:
        con.unregister("_refitted_patterns")


# A newly trained model scores every candidate pair down to this probability for the refit
# (refit.py); the pairs below it, millions of clear non-matches, count as non-matches.
FIT_FLOOR = 1e-4


def _logit2(p: float) -> float:
    return float(np.log2(p / (1 - p)))


def _veto_sql(settings: dict) -> str:
    """The forename veto, as a condition on Splink's scored pairs: forenames both known and
    neither alike nor swapped, with no personal identifier agreeing (birth date, national id).
    Household members share surname, address, e-mail and landline: evidence that outweighs a
    differing forename in the naive-Bayes sum, though it says nothing about which member a
    record is; a birth date or a national id does. The levels are named, so the veto does not
    depend on the weights the model learned."""
    veto = {k: ", ".join(map(str, v)) or "null" for k, v in _veto_levels(settings).items()}
    return (
        f"gamma_name in ({veto['name']}) and not (gamma_birth in ({veto['birth']}) "
        f"or gamma_national_id in ({veto['national_id']}))"
    )


def _veto_levels(settings: dict) -> dict[str, list[int]]:
    return {
        "name": _gammas(settings, "name", FORENAMES_DISAGREE),
        "birth": _gammas(settings, "birth", ("same date",)),
        "national_id": _gammas(settings, "national_id", ("exact", "typo")),
    }


def _gammas(settings: dict, comparison: str, labels: tuple[str, ...]) -> list[int]:
    """Splink's comparison vector values of the levels labelled `labels` (the first non-null
    level counts highest, down to 0; the null level is -1)."""
    levels = next(
        c["comparison_levels"]
        for c in settings["comparisons"]
        if c["output_column_name"] == comparison
    )
    ranked = [lv for lv in levels if not lv.get("is_null_level")]
    return [len(ranked) - 1 - i for i, lv in enumerate(ranked) if lv["label_for_charts"] in labels]


def _drop_splink_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Splink's working tables and views live in the connection's default schema; drop them."""
    pattern = "__splink%"
    for kind, listing in (("view", "duckdb_views()"), ("table", "duckdb_tables()")):
        names = con.execute(
            f"select schema_name, {kind}_name from {listing} "
            f"where {kind}_name like ? escape '!' and not internal",
            [pattern.replace("_", "!_")],
        ).fetchall()
        for schema, name in names:
            con.execute(f'drop {kind} if exists "{schema}"."{name}"')


def load_model(con: duckdb.DuckDBPyConnection) -> tuple[dict, int] | None:
    """The stored model of the current MODEL_VERSION and how many records it was trained on."""
    rows = con.execute(
        f"select settings_json, trained_records from {SCHEMA}.{MODEL_TABLE} "
        "where model_version = ? order by trained_at desc limit 1",
        [MODEL_VERSION],
    ).fetchall()  # all (one row): a half-read result would block register() on `con`
    return (json.loads(rows[0][0]), int(rows[0][1])) if rows else None


def save_model(con: duckdb.DuckDBPyConnection, settings: dict, records: int, at) -> None:
    con.execute(
        f"insert into {SCHEMA}.{MODEL_TABLE} values (?, ?, ?, ?)",
        [MODEL_VERSION, json.dumps(settings), records, at],
    )
