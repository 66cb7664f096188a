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


NIGHT_PII = {"customer_360": {"email": "email"}}
MONTHS = ["2025-01", "2025-02", "2025-03"]


@pytest.fixture
def nightly(con):
    """Marts as a night leaves them: a small table with personal data, two tables exported by
    month (a history's spells, one with no start yet) and one declared so but without its date."""
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_360 as select range as customer_key, "
        "'c' || range || '@x.org' as email, range * 1.5 as clv from range(5)"
    )
    con.execute(
        "create table marts.kpi_daily as select d::date as kpi_date, dayofmonth(d) as customers "
        "from range(date '2025-01-01', date '2025-04-01', interval 1 day) t(d)"
    )
    con.execute(
        """create table marts.customer_segment_history as select * from (values
        (1, 'value_tier', 'high', date '2025-01-05', date '2025-02-10'),
        (1, 'value_tier', 'low', date '2025-02-10', null),
        (2, 'value_tier', 'mid', date '2025-03-01', null),
        (3, 'value_tier', 'mid', null, null)) t(customer_key, scheme, segment, valid_from, valid_to)"""
    )
    con.execute(
        "create table marts.key_account_performance as "
        "select 'KA1' as ka_id, '2025-Q1' as period, 100.0 as revenue_actual"
    )
    return con


def night(con, out, day, key=KEY, **options):
    """Export the marts as of 2025-04-`day`; returns the result and the version folder."""
    as_of = dt.date(2025, 4, day)
    result = export_marts(con, out, as_of, f"run{day}", NIGHT_PII, key=key, **options)
    return result, (out / as_of.isoformat()).resolve()


def files_of(version):
    """Every data file of a version (by its path in the version) and its stat."""
    return {
        p.relative_to(version).as_posix(): p.stat()
        for p in version.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }


def renewed(new, old):
    """The files of version `new` that are not the very files of version `old`."""
    before = files_of(old)
    return {n for n, s in files_of(new).items() if n not in before or s.st_ino != before[n].st_ino}


def same_rows(con, a, b):
    """Whether two selects hold the same rows, duplicates counted."""
    missing = con.execute(f"select count(*) from (({a}) except all ({b}))").fetchone()[0]
    extra = con.execute(f"select count(*) from (({b}) except all ({a}))").fetchone()[0]
    return missing == extra == 0


def assert_complete(con, version):
    """The manifest lists every file with its true checksum and size, its rows add up to the
    table's, and each table read back (a folder of months or one file) is the mart's rows."""
    manifest = json.loads((version / "manifest.json").read_text())
    listed = {f["file"]: f for t in manifest["tables"] for f in t["files"]}
    assert set(listed) == set(files_of(version))
    for name, entry in listed.items():
        data = (version / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    for table in manifest["tables"]:
        name = table["table"]
        count = con.execute(f"select count(*) from marts.{name}").fetchone()[0]
        assert table["rows"] == sum(f["rows"] for f in table["files"]) == count, name
        path = version / table["path"]
        files = f"{path}/**/*.parquet" if path.is_dir() else str(path)
        shown = ", ".join(c["name"] for c in table["columns"] if c["name"] != "email")
        read = f"select {shown} from read_parquet('{files}', hive_partitioning = false)"
        assert same_rows(con, read, f"select {shown} from marts.{name}"), name


def test_an_unchanged_night_links_every_file_of_the_previous_version(nightly, tmp_path):
    out = tmp_path / "exports"
    first, v1 = night(nightly, out, 1)
    assert sorted(files_of(v1)) == [
        "customer_360.parquet",
        "customer_segment_history/month=2025-02/part-0.parquet",
        "customer_segment_history/month=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
        "key_account_performance.parquet",  # declared by month, but it has no period_start
        *(f"kpi_daily/month={m}/part-0.parquet" for m in MONTHS),
    ]
    assert (first.files_written, first.files_shared) == (7, 0)
    second, v2 = night(nightly, out, 2)
    assert (second.files_written, second.files_shared) == (0, 7)
    old = files_of(v1)
    for name, stat in files_of(v2).items():
        assert (stat.st_ino, stat.st_nlink) == (old[name].st_ino, 2), name
    assert_complete(nightly, v2)
    assert (out / "latest").resolve() == v2
    manifest = json.loads((v2 / "manifest.json").read_text())
    kpi = next(t for t in manifest["tables"] if t["table"] == "kpi_daily")
    assert kpi["partitioned_by"] == {"column": "kpi_date", "key": "month"}
    assert [(f["partition"], f["rows"]) for f in kpi["files"]] == list(
        zip(MONTHS, [31, 28, 31], strict=True)
    )
    # a month's null dates read back as NULL from the Hive layout
    history = f"{out}/latest/customer_segment_history/**/*.parquet"
    months = nightly.execute(f"select month, count(*) from '{history}' group by 1 order by 1")
    assert months.fetchall() == [("2025-02", 1), (None, 3)]  # by the month a spell ended
    # removing the first version (retention) leaves the second's files whole, now its own
    _age(v1, 40)
    _age(v2, 40)
    assert night(nightly, out, 3, keep_days=30)[0].removed == ["2025-04-01", "2025-04-02"]
    assert not v1.exists() and not v2.exists()
    assert {s.st_nlink for s in files_of(out / "latest").values()} == {1}
    assert_complete(nightly, (out / "latest").resolve())


def test_a_night_rewrites_only_the_month_or_the_small_table_that_changed(nightly, tmp_path):
    out = tmp_path / "exports"
    _, v1 = night(nightly, out, 1)
    nightly.execute("update marts.kpi_daily set customers = 0 where month(kpi_date) = 2")
    result, v2 = night(nightly, out, 2)
    assert renewed(v2, v1) == {"kpi_daily/month=2025-02/part-0.parquet"}
    assert (result.files_written, result.files_shared) == (1, 6)
    assert_complete(nightly, v2)
    # a spell closed: only the month it ended in and the open spells
    nightly.execute(
        "update marts.customer_segment_history set valid_to = date '2025-04-02' "
        "where valid_from = date '2025-03-01'"
    )
    _, v3 = night(nightly, out, 3)
    assert renewed(v3, v2) == {
        "customer_segment_history/month=2025-04/part-0.parquet",
        "customer_segment_history/month=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
    }
    nightly.execute("update marts.customer_360 set clv = 0 where customer_key = 4")
    _, v4 = night(nightly, out, 4)
    assert renewed(v4, v3) == {"customer_360.parquet"}
    assert_complete(nightly, v4)
    # a month's rows gone: its file goes; a new month: its file comes
    nightly.execute("delete from marts.kpi_daily where month(kpi_date) = 1")
    nightly.execute("insert into marts.kpi_daily values (date '2025-04-01', 9)")
    _, v5 = night(nightly, out, 5)
    assert renewed(v5, v4) == {"kpi_daily/month=2025-04/part-0.parquet"}
    assert "kpi_daily/month=2025-01/part-0.parquet" not in files_of(v5)
    assert_complete(nightly, v5)


def test_a_new_key_role_or_format_rewrites_the_files(nightly, tmp_path):
    """What changes the written bytes without changing the mart counts as a change."""
    out = tmp_path / "exports"
    _, v1 = night(nightly, out, 1)
    nightly.execute("alter table marts.kpi_daily alter customers type bigint")  # a type
    result, v2 = night(nightly, out, 2, key=b"new")
    assert result.files_shared == 0 and renewed(v2, v1) == set(files_of(v2))
    frame = pd.read_parquet(v2 / "customer_360.parquet")
    assert frame.email[0] == Hasher(b"new").value("c0@x.org")
    admin, _ = night(nightly, out, 3, key=b"new", role="admin")  # the same key, another role
    assert admin.files_shared == 0
    csv, v4 = night(nightly, out, 4, file_format="csv")
    assert csv.files_shared == 0 and "kpi_daily/month=2025-03/part-0.csv" in files_of(v4)
    read = nightly.execute(f"select count(*) from read_csv('{v4}/kpi_daily/**/*.csv')")
    assert read.fetchone()[0] == 90
    again, _ = night(nightly, out, 5, file_format="csv")
    assert again.files_written == 0
    # the next analyst's Parquet export shares with the last one, past the admin's and the CSVs
    back, v6 = night(nightly, out, 6, key=b"new")
    assert back.files_written == 0 and not renewed(v6, v2)


def test_an_empty_table_exported_by_month_is_one_empty_file(con, tmp_path):
    con.execute("create schema marts")
    con.execute("create table marts.kpi_daily (kpi_date date, customers integer)")
    export_marts(con, tmp_path / "exports", dt.date(2025, 1, 1), "r1", {})
    folder = tmp_path / "exports" / "latest" / "kpi_daily"
    assert [p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")] == [
        "month=__HIVE_DEFAULT_PARTITION__/part-0.parquet"
    ]
    frame = pd.read_parquet(next(folder.rglob("*.parquet")))
    assert list(frame.columns) == ["kpi_date", "customers"] and len(frame) == 0
