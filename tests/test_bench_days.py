"""The benchmarks' days: one more day of transactions, and nights cut from a generated zone."""

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.bench_nightly import land_one_day
from bench.night_slices import EXTRA_SUFFIXES, SYSTEMS, late_plan, read_part, slice_landing
from ingest.demo.generator import generate


def test_each_day_lands_a_share_of_the_generated_quarter_not_of_the_day_before(tmp_path):
    folder = tmp_path / "branch" / "transactions"
    folder.mkdir(parents=True)
    quarter = pd.DataFrame({"TXN_REF": [f"T{i}" for i in range(2000)], "BOOK_DT": "01.04.2025"})
    quarter.to_csv(folder / "txn_202504.csv", sep=";", index=False)

    landed = [land_one_day(tmp_path, dt.date(2025, 7, d)) for d in (1, 2, 3)]

    assert landed == [20, 20, 20]
    third = pd.read_csv(folder / "txn_20250703.csv", sep=";", dtype=str)
    assert set(third["BOOK_DT"]) == {"03.07.2025"}
    assert third["TXN_REF"].str.startswith("D20250703").all() and third["TXN_REF"].is_unique


AS_OF = dt.date(2025, 6, 30)
NIGHTS = 8


@pytest.fixture(scope="module")
def sliced(tmp_path_factory) -> Path:
    """A small generated landing zone (kept aside as generated) cut into a cold part and nights."""
    root = tmp_path_factory.mktemp("nights")
    generate(
        root / "generated",
        customers=1500,
        start=AS_OF - dt.timedelta(days=120),
        end=AS_OF + dt.timedelta(days=NIGHTS),
        seed=3,
    )
    shutil.copytree(root / "generated", root / "landing")
    slice_landing(root / "landing", root / "nights", AS_OF, NIGHTS, customers=1500, seed=3)
    return root


def rows_in(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    return len(lines) - (path.suffix == ".csv")  # a CSV's header


def generated_rows(folder: Path, with_extras: bool = False) -> Counter:
    counts: Counter = Counter()
    for path in folder.glob("*/*/*.*"):
        extra = path.stem.endswith(EXTRA_SUFFIXES)
        if path.parts[-3] in SYSTEMS and (with_extras or not extra):
            counts[(path.parts[-3], path.parts[-2])] += rows_in(path)
    return counts


def test_the_cold_part_and_the_nights_hold_every_generated_row_once(sliced):
    generated = generated_rows(sliced / "generated")
    cold = generated_rows(sliced / "landing")
    nights = sum((generated_rows(n) for n in (sliced / "nights").iterdir()), Counter())

    assert len(generated) == 15 and sum(nights.values()) > 300
    assert {k: cold[k] + nights[k] for k in generated} == dict(generated)
    for path in (sliced / "landing").glob("*/*/*.*"):
        if path.parts[-3] in SYSTEMS:
            part = read_part(path, path.parts[-3], path.parts[-2])
            assert (part.day <= np.datetime64(AS_OF)).all(), path


def test_every_night_has_files_from_every_source_dated_its_day(sliced):
    late = late_plan(NIGHTS)
    assert late == {1: (("branch", "transactions"), 4)}
    for night in range(1, NIGHTS + 1):
        folder = sliced / "nights" / f"{night:03d}"
        assert {p.name for p in folder.iterdir()} == set(SYSTEMS), night
        day = np.datetime64(AS_OF + dt.timedelta(days=night), "D")
        for path in folder.glob("*/*/*.*"):
            if not path.stem.endswith(EXTRA_SUFFIXES) and path.name != "txn_20250701.csv":
                part = read_part(path, path.parts[-3], path.parts[-2])
                assert (part.day == day).all(), path
    nights = sliced / "nights"
    held = nights / "004" / "branch" / "transactions" / "txn_20250701.csv"
    assert held.exists() and not (nights / "001" / "branch" / "transactions" / held.name).exists()
    assert set(read_part(held, "branch", "transactions").day) == {np.datetime64("2025-07-01")}


def test_corrections_and_moves_change_records_landed_before(sliced):
    landed = pd.concat(
        pd.read_csv(p, sep=";", dtype=str)
        for p in sorted((sliced / "landing" / "branch" / "transactions").glob("*.csv"))
    )
    fixed = pd.read_csv(
        sliced / "nights" / "002" / "branch" / "transactions" / "txn_20250702_corr.csv",
        sep=";",
        dtype=str,
    )
    before = landed.set_index("TXN_REF").loc[fixed.TXN_REF]
    assert len(fixed) == 2
    assert (before.BOOK_DT.to_numpy() == fixed.BOOK_DT.to_numpy()).all()
    assert (before.AMT.to_numpy() != fixed.AMT.to_numpy()).all()
    moved = pd.read_csv(
        sliced / "nights" / "002" / "branch" / "customers" / "cust_20250702_moves.csv",
        sep=";",
        dtype=str,
    )
    assert len(moved) == 1 and moved.CHG_TS.tolist() == ["2025-07-02 12:00:00"]
    versions = pd.concat(
        pd.read_csv(p, sep=";", dtype=str, keep_default_na=False)
        for p in (sliced / "landing" / "branch" / "customers").glob("*.csv")
    )
    new = moved.iloc[0]
    before = versions.loc[versions.CUST_NO.eq(new.CUST_NO)].sort_values("CHG_TS").iloc[-1]
    assert new.STREET and (new.STREET, new.ZIP) != (before.STREET, before.ZIP)
    assert (new.FIRST_NM, new.LAST_NM) == (before.FIRST_NM, before.LAST_NM)
