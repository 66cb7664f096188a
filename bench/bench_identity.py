"""Identity resolution quality and speed against the generator's truth.

    python bench/bench_identity.py [--customers 20000] [--workdir DIR]

Generates demo data, runs the nightly job once (dbt staging/integration builds the unioned
customer records), then times ingest.identity.resolve_identities on a copy of the warehouse
and prints: pairwise precision / recall / F1 of "same person" and "same household", distinct
customers vs the truth, key stability (a second run on the same data) and time / peak memory.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.identity import resolve_identities
from ingest.identity.quality import score_against_truth

CIF = str(Path(sys.executable).with_name("cif"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--workdir", default="/tmp/bench_identity")
    args = parser.parse_args()
    work = Path(args.workdir) / str(args.customers)
    landing, wh = work / "landing", work / "wh" / "cif.duckdb"
    if not wh.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        subprocess.run(
            [
                CIF,
                "generate",
                "--out",
                str(landing),
                "--customers",
                str(args.customers),
                "--end",
                "2025-06-30",
            ],
            check=True,
        )
        subprocess.run(
            [
                CIF,
                "run",
                "--landing",
                str(landing),
                "--warehouse",
                str(wh),
                "--exports",
                str(work / "exp"),
                "--as-of",
                "2025-06-30",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    copy = work / "bench.duckdb"
    shutil.copy(wh, copy)
    con = duckdb.connect(str(copy))
    for table in (
        "customer_identity_map",
        "customer_key_changes",
        "customer_key_lookup",
        "customer_household",
        "household_key_changes",
        "identity_model",
        "identity_records",
        "identity_pairs",
    ):
        con.execute(f"drop table if exists core.{table}")
    start = time.perf_counter()
    first = resolve_identities(con)
    full_seconds = time.perf_counter() - start
    identity_map = con.execute("select * from core.customer_identity_map").df()
    households = con.execute("select * from core.customer_household").df()
    start = time.perf_counter()
    resolve_identities(con)
    nightly_seconds = time.perf_counter() - start
    again = con.execute("select * from core.customer_identity_map").df()
    both = identity_map.merge(again, on=["source_system", "source_customer_id"])
    stability = (both.customer_key_x == both.customer_key_y).mean()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    truth = pd.read_csv(landing / "_truth" / "customers.csv")
    scores = score_against_truth(identity_map, households, truth)
    true_people = truth.person_id.nunique()
    print(f"records                      {first.records:>10,}")
    for name, s in scores.items():
        print(
            f"{name:<8} precision / recall / F1   {s.precision:.4f} / {s.recall:.4f} / {s.f1:.4f}"
        )
    print(
        f"customers vs true people     {first.customers:>10,} / {true_people:,} "
        f"({first.customers / true_people - 1:+.2%})"
    )
    print(
        f"households vs true           {first.households:>10,} / {truth.household_id.nunique():,}"
    )
    print(f"key stability (same data)    {stability:>10.2%}")
    print(f"full resolution (train+all)  {full_seconds:>9.1f} s")
    print(f"nightly, nothing changed     {nightly_seconds:>9.1f} s")
    print(f"peak memory (process)        {peak_gb:>9.2f} GB")


if __name__ == "__main__":
    main()
