"""Identity resolution quality and speed against the generator's truth.

    .venv/bin/python bench/bench_identity.py [--customers 20000] [--workdir DIR]

Generates demo data, loads it and builds the dbt integration layer as of the day before the
end (the loader and dbt, no whole nightly run), then on a copy of that warehouse times a full
resolution (training included) and prints pairwise precision / recall / F1 of "same person" and
"same household" and distinct customers vs the truth, the ceiling this data allows
(models.identity.quality.evidence_ceiling), key stability on the same data, and
the time and peak memory; the same data again is skipped (nothing new), and resolved again
with force=True for the key stability. Finally it builds the integration layer for the last day and
resolves again: the share of keys unchanged by a day of new data and that run's time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.demo.generator import generate
from ingest.loader import load_landing
from models.identity import resolve_identities
from models.identity.households import load_holders
from models.identity.quality import evidence_ceiling, score_against_truth
from models.identity.records import load_records
from orchestration.dbt_project import build_layer, prepare_manifest

END = dt.date(2025, 6, 30)
DAY_BEFORE = END - dt.timedelta(days=1)
MAP_SQL = "select source_system, source_customer_id, customer_key from core.customer_identity_map"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--workdir", default="/tmp/bench_identity")
    args = parser.parse_args()
    work = Path(args.workdir) / str(args.customers)
    landing, wh = work / "landing", work / "integrated.duckdb"
    if not wh.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        prepare_manifest()
        generate(landing, customers=args.customers, start=dt.date(2023, 7, 1), end=END, seed=7)
        with duckdb.connect(str(wh)) as con:
            load_landing(con, landing)
        build_layer(wh, DAY_BEFORE, "integrate", work / "target")
    copy = work / "bench.duckdb"
    shutil.copy(wh, copy)
    con = duckdb.connect(str(copy))
    records, holders = load_records(con), load_holders(con, per_record=True)
    start = time.perf_counter()
    first = resolve_identities(con)
    full_seconds = time.perf_counter() - start
    full_peak = peak_gb()
    before = con.execute(MAP_SQL).df()
    households = con.execute("select * from core.customer_household").df()
    start = time.perf_counter()
    skipped = resolve_identities(con)
    skip_seconds = time.perf_counter() - start
    assert skipped.skipped  # nothing new: linking and households skipped
    start = time.perf_counter()
    again = resolve_identities(con, force=True)
    same_seconds = time.perf_counter() - start
    stability = before.merge(
        con.execute(MAP_SQL).df(), on=["source_system", "source_customer_id"]
    ).pipe(lambda d: (d.customer_key_x == d.customer_key_y).mean())
    con.close()
    build_layer(copy, END, "integrate", work / "target")
    con = duckdb.connect(str(copy))
    start = time.perf_counter()
    day = resolve_identities(con)
    day_seconds = time.perf_counter() - start
    both = before.merge(con.execute(MAP_SQL).df(), on=["source_system", "source_customer_id"])
    con.close()
    day_stability = (both.customer_key_x == both.customer_key_y).mean()

    truth = pd.read_csv(landing / "_truth" / "customers.csv", dtype={"source_customer_id": str})
    scores = score_against_truth(before, households, truth)
    true_people = truth.merge(
        before, on=["source_system", "source_customer_id"]
    ).person_id.nunique()
    print(f"records                      {first.records:>10,}")
    for name, s in scores.items():
        print(f"{name:<10}precision / recall / F1 {s.precision:.4f} / {s.recall:.4f} / {s.f1:.4f}")
    print(
        f"customers vs true people     {first.customers:>10,} / {true_people:,} "
        f"({first.customers / true_people - 1:+.2%})"
    )
    ceiling = evidence_ceiling(records, truth, holders)
    person, household = ceiling["person"], ceiling["household"]
    print(
        f"ceiling: person recall / F1 {person.recall:.4f} / {person.f1:.4f}, customers "
        f"{person.predicted_groups:,} ({person.predicted_groups / true_people - 1:+.2%}); "
        f"household recall / F1 {household.recall:.4f} / {household.f1:.4f} (an oracle "
        "linking only through identifying and household evidence)"
    )
    print(
        f"households vs true           {first.households:>10,} / {scores['household'].true_groups:,}"
    )
    print(f"full resolution (train+all)  {full_seconds:>9.1f} s, peak {full_peak:.2f} GB")
    print(f"same data again (skipped)    {skip_seconds:>9.1f} s")
    print(f"same data, forced            {same_seconds:>9.1f} s, keys unchanged {stability:.4%}")
    print(
        f"a day of new data            {day_seconds:>9.1f} s, keys unchanged {day_stability:.4%} "
        f"({day.compared_records:,} records compared, {day.new_customers:,} new customers, "
        f"{day.merges} merges, {day.splits} splits)"
    )
    print(f"peak memory (process)        {peak_gb():>9.2f} GB")
    assert again.compared_records == 0


if __name__ == "__main__":
    main()
