"""Probabilistic matching with Splink (DuckDB backend on the warehouse's own connection).

Each piece of evidence is compared once: names (one comparison over forename and surname, with
swaps and typos), birth date / year, e-mail, phone, and address (street with postcode, one
comparison: the city would repeat the postcode's evidence). Blocking keeps the candidate pairs
near-linear at 1M records. The trained model (Splink's settings JSON) is kept in
core.identity_model and reused by nightly runs until the population has grown markedly.
"""

from __future__ import annotations

import json
import logging
import math

import duckdb
import pandas as pd

from models.identity.tables import MODEL as MODEL_TABLE
from models.identity.tables import SCHEMA

MODEL_VERSION = "4"  # bump when the comparisons or blocking below change: forces retraining
MATCH_PROBABILITY = 0.7
COLUMNS = [
    "uid",
    "given",
    "surname",
    "date_of_birth",
    "birth_year",
    "email",
    "email_user",
    "phone",
    "phone_kind",
    "postcode_key",
    "address_key",
    "party_type",
]


def _level(sql: str, label: str, m: float | None = None) -> dict:
    out: dict = {"sql_condition": sql, "label_for_charts": label}
    if m is None:
        out["is_null_level"] = True
    else:
        out["m_probability"] = m
    return out


SIMILAR_GIVEN = 'jaro_winkler_similarity("given_l", "given_r") >= 0.88'
SIMILAR_SURNAME = 'jaro_winkler_similarity("surname_l", "surname_r") >= 0.88'


def _comparisons() -> list[dict]:
    """The comparisons with declared m probabilities (how often a true match lands in each level).

    Training replaces the declared m values by those measured on the record pairs that the
    deterministic rules link (see M_LABEL_RULES), keeping a tenth of the declared value so that
    no level is impossible. EM is not used: on this data it confuses household members (same
    surname, address, e-mail) with one person. The u values (chance agreement) are estimated
    from the data by random sampling."""
    return [_name(), _birth(), _email(), _phone(), _address()]


def _name() -> dict:
    return {
        "output_column_name": "name",
        "comparison_levels": [
            _level('"given_l" is null or "given_r" is null', "null"),
            _level('"given_l" = "given_r" and "surname_l" = "surname_r"', "exact", 0.86),
            _level('"given_l" = "surname_r" and "surname_l" = "given_r"', "swapped", 0.01),
            _level(f"{SIMILAR_GIVEN} and {SIMILAR_SURNAME}", "both similar", 0.05),
            _level(
                f'{SIMILAR_GIVEN} and ("surname_l" is null or "surname_r" is null)',
                "forename, surname missing",
                0.04,
            ),
            _level(SIMILAR_GIVEN, "forename only (surname changed)", 0.035),
            _level('"surname_l" = "surname_r"', "surname only", 0.003),
            _level("ELSE", "different", 0.002),
        ],
    }


def _birth() -> dict:
    return {
        "output_column_name": "birth",
        "comparison_levels": [
            _level('"birth_year_l" is null or "birth_year_r" is null', "null"),
            _level('"date_of_birth_l" = "date_of_birth_r"', "same date", 0.85),
            _level(
                'damerau_levenshtein(cast("date_of_birth_l" as varchar), '
                'cast("date_of_birth_r" as varchar)) <= 1',
                "date typo",
                0.02,
            ),
            _level(
                '"birth_year_l" = "birth_year_r" '
                'and ("date_of_birth_l" is null or "date_of_birth_r" is null)',
                "same year, one date unknown",
                0.12,
            ),
            _level("ELSE", "different", 0.01),
        ],
    }


def _email() -> dict:
    return {
        "output_column_name": "email",
        "comparison_levels": [
            _level('"email_l" is null or "email_r" is null', "null"),
            _level('"email_l" = "email_r"', "exact", 0.7),
            _level('"email_user_l" = "email_user_r"', "same user, other domain", 0.05),
            _level("ELSE", "different", 0.25),
        ],
    }


def _phone() -> dict:
    return {
        "output_column_name": "phone",
        "comparison_levels": [
            _level('"phone_l" is null or "phone_r" is null', "null"),
            _level('"phone_l" = "phone_r"', "exact", 0.7),
            # a mobile and a landline say nothing against each other: people have both
            _level('"phone_kind_l" != "phone_kind_r"', "mobile vs landline", 0.1),
            _level("ELSE", "different", 0.2),
        ],
    }


def _address() -> dict:
    return {
        "output_column_name": "address",
        "comparison_levels": [
            _level('"postcode_key_l" is null or "postcode_key_r" is null', "null"),
            _level(
                '"postcode_key_l" = "postcode_key_r" and "address_key_l" = "address_key_r"',
                "same address",
                0.8,
            ),
            _level('"postcode_key_l" = "postcode_key_r"', "same postcode", 0.05),
            _level(
                'jaro_winkler_similarity("address_key_l", "address_key_r") >= 0.92',
                "similar street",
                0.02,
            ),
            _level("ELSE", "different", 0.13),
        ],
    }


# Candidate pairs: each rule is an equality join, so pairs grow with the block sizes, not n^2.
BLOCKING_RULES = [
    "l.email = r.email",
    "l.phone = r.phone",
    # with the forename's initial: at 1M people a surname and birth year alone are large blocks
    "l.surname = r.surname and l.birth_year = r.birth_year "
    "and substr(l.given, 1, 1) = substr(r.given, 1, 1)",
    "l.given = r.given and l.date_of_birth = r.date_of_birth",
    "l.postcode_key = r.postcode_key and l.address_key = r.address_key",
    "l.given = r.given and l.surname = r.surname and l.postcode_key = r.postcode_key",
    "l.given = r.surname and l.surname = r.given",
    "l.email_user = r.email_user",
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


def train(con: duckdb.DuckDBPyConnection, records: pd.DataFrame, seed: int = 42) -> dict:
    """Estimate the model on `records`: the share of matching pairs from the deterministic
    rules, u by random sampling (m values are set in the comparisons, see _comparisons)."""
    from splink import Linker

    _quiet()
    db = _api(con)
    sdf = db.register(records[COLUMNS].copy())
    linker = Linker(sdf, base_settings(), log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        ["l.email = r.email and l.given = r.given", "l.phone = r.phone and l.given = r.given"],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    settings = linker.misc.save_model_to_json()
    _estimate_m_from_rules(db, sdf, records, settings)
    # A population with no deterministic matches (every record unique, or no e-mail and phone
    # at all) estimates a prior of 0, which Splink cannot turn into a match weight: fall back
    # to the default prior.
    prior = settings.get("probability_two_random_records_match") or 0.0
    if not 0.0 < prior < 1.0:
        settings["probability_two_random_records_match"] = base_settings()[
            "probability_two_random_records_match"
        ]
    _drop_splink_tables(con)
    return settings


# Which deterministic rules' pairs serve as labels for each comparison's m probabilities: never
# the rules that look at the comparison's own fields (an e-mail rule says nothing about how often
# true matches disagree on e-mail). The phone keeps its declared m: the rule-linked pairs mostly
# come from systems fed by one phone master, while one person's records in other systems often
# carry another number (a new phone behind a second app profile, a mobile against the household
# landline); measured on them, "different" got a third of the weight a changed phone deserves
# (20k demo: person recall 0.935 -> 0.945 with the declared values).
M_LABEL_RULES: dict[str, tuple[str, ...]] = {
    "name": ("national_id",),
    "birth": ("national_id", "email_and_name", "phone_and_name", "customer_number"),
    "email": ("national_id", "phone_and_name", "customer_number"),
    "phone": (),
    "address": ("national_id", "email_and_name", "phone_and_name", "customer_number"),
}
MIN_LABEL_PAIRS = 200  # fewer labelled pairs than this: keep the declared m values
PRIOR_WEIGHT = 0.1  # the declared m values' share in the estimate (no level ever gets m = 0)


def _estimate_m_from_rules(db, frame, records: pd.DataFrame, settings: dict) -> None:
    """Set each comparison's m probabilities from the record pairs the deterministic rules link
    (M_LABEL_RULES), blended with the declared values; in place on `settings`."""
    from splink import Linker

    from models.identity.rules import rule_edges

    edges = rule_edges(records.reset_index(drop=True))
    uid = records.uid.to_numpy()
    labels = pd.DataFrame(
        {"uid_l": uid[edges.left.to_numpy()], "uid_r": uid[edges.right.to_numpy()]}
    )
    declared = {c["output_column_name"]: c for c in _comparisons()}
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        subset = labels[edges.rule.isin(M_LABEL_RULES.get(name, ())).to_numpy()]
        if len(subset) < MIN_LABEL_PAIRS:
            continue
        # a fresh linker each time: Splink averages the m values of successive estimates
        fresh = Linker(frame, base_settings(), log_level=None)
        fresh.training.estimate_m_from_pairwise_labels(db.register(subset.reset_index(drop=True)))
        estimated = next(
            c
            for c in fresh.misc.save_model_to_json()["comparisons"]
            if c["output_column_name"] == name
        )
        prior = declared[name]["comparison_levels"]
        for level, est, dec in zip(
            comparison["comparison_levels"], estimated["comparison_levels"], prior, strict=True
        ):
            if level.get("is_null_level"):
                continue
            m = est.get("m_probability") or 0.0
            level["m_probability"] = (1 - PRIOR_WEIGHT) * m + PRIOR_WEIGHT * dec["m_probability"]
        # levels no labelled pair fell into keep their declared m: renormalise to a distribution
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        total = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] /= total


def predict(
    con: duckdb.DuckDBPyConnection,
    settings: dict,
    records: pd.DataFrame,
    new: pd.Series | None = None,
    threshold: float = MATCH_PROBABILITY,
) -> pd.DataFrame:
    """Scored pairs (uid_l, uid_r, match_probability) above `threshold`.

    With `new` (a boolean mask over `records`) only pairs touching a new or changed record
    are scored: new against existing records and new among themselves."""
    from splink import Linker

    _quiet()
    db = _api(con)
    frame = records[COLUMNS].copy()
    settings = {**settings, "retain_intermediate_calculation_columns": True}
    if new is None:
        linker = Linker(db.register(frame), settings, log_level=None)
        pairs = linker.inference.predict(
            threshold_match_probability=threshold
        ).as_pandas_dataframe()
    else:
        if not new.any():
            return pd.DataFrame(
                {
                    "uid_l": pd.Series([], dtype=str),
                    "uid_r": pd.Series([], dtype=str),
                    "match_probability": pd.Series([], dtype=float),
                }
            )
        fresh = db.register(frame[new.to_numpy()].reset_index(drop=True))
        known = db.register(frame[~new.to_numpy()].reset_index(drop=True))
        linker = Linker(fresh, settings, log_level=None)
        parts = [
            linker.inference.predict_within(
                fresh, threshold_match_probability=threshold
            ).as_pandas_dataframe()
        ]
        if (~new).any():
            parts.append(
                linker.inference.predict_between(
                    fresh, known, threshold_match_probability=threshold
                ).as_pandas_dataframe()
            )
        pairs = pd.concat(parts, ignore_index=True)
    _drop_splink_tables(con)
    # Household members share surname, address, e-mail and landline: evidence that outweighs a
    # differing forename in the naive-Bayes sum. Two people whose forenames both are known and
    # are neither alike nor swapped are never one person.
    vetoed = pairs["mw_name"] <= _veto_weight(settings) + 1e-9
    return pairs.loc[~vetoed, ["uid_l", "uid_r", "match_probability"]].reset_index(drop=True)


def _veto_weight(settings: dict) -> float:
    """The highest name match weight of the levels where the forenames disagree."""
    name = next(c for c in settings["comparisons"] if c["output_column_name"] == "name")
    weights = [
        math.log2(level["m_probability"] / level["u_probability"])
        for level in name["comparison_levels"]
        if level.get("label_for_charts") in ("surname only", "different")
        # On small or uniform populations a level may never be observed (probability 0).
        and (level.get("m_probability") or 0) > 0
        and (level.get("u_probability") or 0) > 0
    ]
    return max(weights, default=-math.inf)


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
