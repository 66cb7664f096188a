import datetime as dt

import pytest

from ingest.layouts import load_layouts
from ingest.loader import load_landing
from quality.monitors import conflicting_keys, kpi_drift, low_volume, missing_sources

HEADER = "transaction_id,source_customer_id,occurred_at,amount\n"


def land(root, system, entity, name, text):
    path = root / system / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rows(n, prefix="t"):
    return "".join(f"{prefix}{i},c{i},2024-01-01,{i}\n" for i in range(n))


def test_conflicting_keys_within_a_file_are_found_and_exact_repeats_are_not(tmp_path, con):
    land(
        tmp_path,
        "shop",
        "transactions",
        "a.csv",
        HEADER
        + "t1,c1,2024-01-01,5\nt1,c1,2024-01-01,5\n"
        + "t2,c2,2024-01-01,5\nt2,c2,2024-01-01,7\n",
    )
    land(tmp_path, "shop", "transactions", "b.csv", HEADER + "t1,c1,2024-01-01,9\n")  # a correction
    load_landing(con, tmp_path)
    (finding,) = conflicting_keys(con, list(load_layouts().values()))
    assert finding.subject == "raw.canonical__transactions"
    assert finding.message.startswith("1 keys (transaction_id) have conflicting records")
    assert "t2 (2 versions in" in finding.message and "a.csv" in finding.message


def test_low_volume_and_missing_sources_compare_the_latest_load_with_earlier_ones(tmp_path, con):
    for day, n in enumerate([100, 120, 30], start=1):
        land(tmp_path, "shop", "transactions", f"d{day}.csv", HEADER + rows(n, f"d{day}-"))
        if day < 3:
            land(
                tmp_path,
                "shop",
                "customers",
                f"d{day}.csv",
                "source_customer_id\nc1\n" + f"c{day}\n",
            )
        load_landing(con, tmp_path, loaded_at=dt.datetime(2025, 1, day, 2))
    (volume,) = low_volume(con)
    assert volume.subject == "shop/transactions" and "has 30 rows, usually 110" in volume.message
    (missing,) = missing_sources(con)
    assert (
        missing.subject == "shop/customers" and "sent no file in the latest load" in missing.message
    )


def test_kpi_drift_needs_history_and_flags_big_moves(con):
    con.execute("create schema scores")
    con.execute(
        "create table scores.customer_scores (as_of_date date, customer_key bigint, "
        "clv_net_12m double, attrition_risk double)"
    )
    for day in range(1, 5):
        customers = 100 if day < 4 else 40
        con.execute(
            "insert into scores.customer_scores select ?, i, 50.0, 0.2 from range(?) r(i)",
            [dt.date(2025, 1, day), customers],
        )
    assert kpi_drift(con, dt.date(2025, 1, 3)) == []  # only two earlier dates
    (finding,) = kpi_drift(con, dt.date(2025, 1, 4))
    assert finding.subject == "customers_scored"
    assert finding.message.startswith("40.000 on 2025-01-04 against a usual 100.000 (-60%)")


@pytest.mark.parametrize("tolerance", [0.7])
def test_kpi_drift_tolerance_is_configurable(con, tolerance):
    con.execute("create schema scores")
    con.execute(
        "create table scores.customer_scores (as_of_date date, customer_key bigint, "
        "clv_net_12m double, attrition_risk double)"
    )
    for day, n in zip(range(1, 5), [100, 100, 100, 40], strict=True):
        con.execute(
            "insert into scores.customer_scores select ?, i, 50.0, 0.2 from range(?) r(i)",
            [dt.date(2025, 1, day), n],
        )
    assert kpi_drift(con, dt.date(2025, 1, 4), tolerance=tolerance) == []
