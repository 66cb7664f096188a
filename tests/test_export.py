import datetime as dt
import json

import pandas as pd
import pytest

from ingest.export import export_marts, pii_columns

PII = {"customer_360": {"email", "first_name"}}


@pytest.fixture
def marts(con):
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_360 as select 1::bigint as customer_key, 'a@x' as email, "
        "'Ann' as first_name, 12.5::double as clv"
    )
    con.execute("create table marts.kpi_daily as select date '2025-01-01' as day, 3 as customers")
    return con


def test_marts_export_without_pii_with_manifest_and_latest(marts, tmp_path):
    out = tmp_path / "exports"
    result = export_marts(
        marts, out, dt.date(2025, 1, 1), "run1", PII, checks=[{"check": "c", "passed": True}]
    )
    assert result.tables == {"customer_360": 1, "kpi_daily": 1}
    assert result.excluded_pii == {"customer_360": ["email", "first_name"]}
    frame = pd.read_parquet(out / "2025-01-01" / "customer_360.parquet")
    assert list(frame.columns) == ["customer_key", "clv"]
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert manifest["run_id"] == "run1" and manifest["as_of"] == "2025-01-01"
    table = next(t for t in manifest["tables"] if t["table"] == "customer_360")
    assert table["rows"] == 1 and [c["name"] for c in table["columns"]] == ["customer_key", "clv"]
    assert manifest["checks"] == [{"check": "c", "passed": True}]


def test_include_pii_csv_and_latest_follows_the_newest_as_of(marts, tmp_path):
    out = tmp_path / "exports"
    export_marts(marts, out, dt.date(2025, 1, 2), "run2", PII)
    export_marts(marts, out, dt.date(2025, 1, 1), "run3", PII, include_pii=True, file_format="csv")
    assert (out / "latest").resolve() == (out / "2025-01-02").resolve()
    frame = pd.read_csv(out / "2025-01-01" / "customer_360.csv")
    assert list(frame.columns) == ["customer_key", "email", "first_name", "clv"]
    # re-exporting a date replaces it atomically, the old version is kept until pruned
    export_marts(marts, out, dt.date(2025, 1, 2), "run4", PII)
    assert json.loads((out / "latest" / "manifest.json").read_text())["run_id"] == "run4"


def test_pii_columns_are_read_from_the_dbt_manifest(dbt_manifest):
    pii = pii_columns(dbt_manifest)
    assert {"first_name", "last_name", "email", "phone", "date_of_birth"} <= pii["customer_360"]
    assert "customer_key" not in pii["customer_360"]


def test_csv_exports_neutralise_spreadsheet_formulas_parquet_keeps_values(con, tmp_path):
    con.execute("create schema marts")
    con.execute(
        """create table marts.customer_360 as select * from (values
        (1, '=HYPERLINK("http://x")', -1.5), (2, '@SUM(A1)', 2.0), (3, 'Ann-Marie', 3.0)
        ) t(customer_key, last_name, clv)"""
    )
    out = tmp_path / "exports"
    export_marts(con, out, dt.date(2025, 1, 1), "r1", {}, file_format="csv")
    frame = pd.read_csv(out / "2025-01-01" / "customer_360.csv")
    assert frame.last_name.tolist() == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "Ann-Marie"]
    assert frame.clv.tolist() == [-1.5, 2.0, 3.0]  # numbers are not text
    export_marts(con, out, dt.date(2025, 1, 2), "r2", {})
    parquet = pd.read_parquet(out / "2025-01-02" / "customer_360.parquet")
    assert parquet.last_name.tolist()[0] == '=HYPERLINK("http://x")'
