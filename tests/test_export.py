import datetime as dt
import hashlib
import json
import os

import pandas as pd
import pytest

from ingest.export import MARTS_SCHEMA, export_marts
from ingest.privacy import Hasher, pii_columns

PII = {"customer_360": {"email": "email", "first_name": "name"}}
KEY = b"test-key"


@pytest.fixture
def marts(con):
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_360 as select 1::bigint as customer_key, 'a@x' as email, "
        "'Ann' as first_name, 12.5::double as clv"
    )
    con.execute("create table marts.kpi_daily as select date '2025-01-01' as day, 3 as customers")
    return con


def test_marts_export_pseudonymises_pii_with_manifest_and_latest(marts, tmp_path):
    out = tmp_path / "exports"
    result = export_marts(
        marts,
        out,
        dt.date(2025, 1, 1),
        "run1",
        PII,
        key=KEY,
        checks=[{"check": "c", "passed": True}],
    )
    assert result.tables == {"customer_360": 1, "kpi_daily": 1} and result.role == "analyst"
    frame = pd.read_parquet(out / "2025-01-01" / "customer_360.parquet")
    assert list(frame.columns) == ["customer_key", "email", "first_name", "clv"]
    # HMAC-SHA256 under the key, computed in SQL, equals Python's hmac
    assert frame.email[0] == Hasher(KEY).value("a@x") != Hasher(b"other").value("a@x")
    assert frame.first_name[0] == Hasher(KEY).value("Ann") and len(frame.email[0]) == 16
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert manifest["run_id"] == "run1" and manifest["as_of"] == "2025-01-01"
    assert manifest["role"] == "analyst" and manifest["include_pii"] is False
    table = next(t for t in manifest["tables"] if t["table"] == "customer_360")
    assert table["rows"] == 1 and table["personal_data"] == [
        {"column": "email", "kind": "email", "shown_as": "pseudonym"},
        {"column": "first_name", "kind": "name", "shown_as": "pseudonym"},
    ]
    assert manifest["checks"] == [{"check": "c", "passed": True}]
    for entry in manifest["tables"]:  # checksums a reader can verify the files with
        data = (out / "latest" / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data) > 0


def test_include_pii_csv_and_latest_follows_the_newest_as_of(marts, tmp_path):
    out = tmp_path / "exports"
    export_marts(marts, out, dt.date(2025, 1, 2), "run2", PII, key=KEY)
    export_marts(marts, out, dt.date(2025, 1, 1), "run3", PII, role="admin", file_format="csv")
    assert (out / "latest").resolve() == (out / "2025-01-02").resolve()
    frame = pd.read_csv(out / "2025-01-01" / "customer_360.csv")
    assert list(frame.columns) == ["customer_key", "email", "first_name", "clv"]
    # re-exporting a date replaces it atomically, the old version is kept until pruned
    export_marts(marts, out, dt.date(2025, 1, 2), "run4", PII, key=KEY)
    assert json.loads((out / "latest" / "manifest.json").read_text())["run_id"] == "run4"


def _age(folder, days):
    """Make an export folder look written `days` days earlier than it was (their order kept)."""
    then = folder.stat().st_mtime - days * 86_400
    os.utime(folder, (then, then))


def test_exports_older_than_the_retention_are_removed_but_latest_and_tonight_stay(marts, tmp_path):
    out = tmp_path / "exports"
    for day in (1, 2, 3):
        export_marts(marts, out, dt.date(2025, 1, day), f"run{day}", PII, key=KEY)
    export_marts(marts, out, dt.date(2025, 1, 3), "rerun3", PII, key=KEY)  # 3rd: two versions
    killed = out / ".versions" / "2025-01-02--killed.partial"  # a killed export's leftovers
    killed.mkdir()
    for folder in (out / ".versions").iterdir():
        _age(folder, 40)
    # a backfill of an older date tonight: kept though its as-of is the oldest; latest (the
    # 3rd, written 40 days ago) is kept too
    result = export_marts(marts, out, dt.date(2024, 12, 31), "backfill", PII, key=KEY, keep_days=30)
    assert result.removed == ["2025-01-01", "2025-01-02"]
    assert sorted(p.name for p in out.iterdir()) == [
        ".versions",
        "2024-12-31",
        "2025-01-03",
        "latest",
    ]
    assert (out / "latest").resolve() == (out / "2025-01-03").resolve()
    assert json.loads((out / "latest" / "manifest.json").read_text())["run_id"] == "rerun3"
    left = sorted(p.name.split("--")[0] for p in (out / ".versions").iterdir())
    assert left == ["2024-12-31", "2025-01-03"]  # the 3rd's older version and the partial went too
    assert pd.read_parquet(out / "2024-12-31" / "kpi_daily.parquet").customers.tolist() == [3]
    # the 3rd goes once latest moves on; the backfill, written 29 days ago, stays
    _age(out / "2024-12-31", 29)
    assert export_marts(
        marts, out, dt.date(2025, 1, 4), "r5", PII, key=KEY, keep_days=30
    ).removed == ["2025-01-03"]
    _age(out / "2025-01-04", 400)  # no retention (0): every export stays
    assert export_marts(marts, out, dt.date(2025, 1, 5), "r6", PII, key=KEY).removed == []
    links = sorted(p.name for p in out.iterdir() if p.is_symlink())
    assert links == ["2024-12-31", "2025-01-04", "2025-01-05", "latest"]


def test_pii_columns_are_read_from_the_dbt_manifest_with_their_kind(dbt_manifest):
    pii = pii_columns(dbt_manifest)
    assert pii["customer_360"] == {
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
        "date_of_birth": "birth_date",
        "national_id": "national_id",
        "address_line": "address",
        "city": "locality",
        "postcode": "postcode",
        "source_identifiers": "identifiers",
    }
    assert pii["key_accounts"] == {"account_manager": "staff_name"}


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


def test_the_bi_exposure_names_every_exported_mart_and_every_exposure_an_owner(dbt_manifest):
    manifest = json.loads(dbt_manifest.read_text())
    marts = {
        node["unique_id"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == MARTS_SCHEMA
    }
    exposures = manifest["exposures"]
    assert set(exposures["exposure.cif.bi_exports"]["depends_on"]["nodes"]) == marts
    for exposure in exposures.values():
        assert exposure["owner"]["name"] and "@" in exposure["owner"]["email"]
        assert set(exposure["depends_on"]["nodes"]) <= marts


def test_each_source_number_of_a_list_is_pseudonymised_in_its_place(con, tmp_path):
    """Numbers of several systems (one with a colon of its own, one without a system), and a
    customer with none: each number is Python's HMAC of it, the systems and the order kept."""
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_360 as select * from (values (1, 'crm:C-1, shop:s:2, 77'), "
        "(2, null), (3, 'web:w9')) t(customer_key, source_identifiers)"
    )
    kinds = {"customer_360": {"source_identifiers": "identifiers"}}
    export_marts(con, tmp_path / "exports", dt.date(2025, 1, 1), "r1", kinds, key=KEY)
    frame = pd.read_parquet(tmp_path / "exports" / "2025-01-01" / "customer_360.parquet")
    value = Hasher(KEY).value
    assert frame.source_identifiers.tolist() == [
        f"crm:{value('C-1')}, shop:{value('s:2')}, 77:{value('77')}",
        None,
        f"web:{value('w9')}",
    ]
