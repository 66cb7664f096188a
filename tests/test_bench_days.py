"""The benchmarks' one more day: every day lands about a day's transactions."""

import datetime as dt

import pandas as pd

from bench.bench_nightly import land_one_day


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
