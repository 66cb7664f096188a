"""Incremental nights give the same tables as a full rebuild, row by row.

Two nightly runs on canonical sources (the first a full build, the second incremental; a
whole run costs 25-30 s, so the test keeps to two): in the second, late-known rows come into
their business date (and a customer's new e-mail), a corrected transaction replaces its first
version, a complaint gets resolved, and identity merges two customers (their facts move to one
key). Then the dbt layers of a copy of the last warehouse are rebuilt with --full-refresh from
the same raw, identity and scores: every table dbt builds must be identical. The second night's
changes reach back in time, so the segment history recomputes from an early date. A month
later (the dbt layers only, on copies: a row known since the first night has reached its date,
2024-07-02, and the second night's date left with its month) the history is recomputed from that
night's date only, continues the rows kept before it, and drops the month-end that left its
window: compared with a full rebuild of that day too. Three more nights on a copy, none with
--full-refresh: a correction dated after its night's as-of lands (the earlier version leaves the
facts that night), then the run's vars change currency_rates, then source_trust: each compared
with a full rebuild, and the vars named as the reason the night rebuilt in full.
"""

import datetime as dt
import json
import shutil

import duckdb
import pandas as pd
import pytest

from ingest.layouts import project_vars
from tests.helpers import (
    HISTORY_DAY1,
    SPELLS_AGAINST_STAYS,
    customers,
    nightly,
    purchases,
    write,
)

pytestmark = pytest.mark.slow(seconds=120)
NIGHTS = [HISTORY_DAY1 + dt.timedelta(days=n) for n in range(2)]
LATE_ROW_DAY = NIGHTS[-1] + dt.timedelta(days=1)  # t-d3's business date
MONTH_LATER = dt.date(2024, 8, 1)
DBT_SCHEMAS = ("intermediate", "core", "marts", "frontline")
# says what a build recomputed, so a full build and an incremental night differ by design
BUILD_RECORDS = {"intermediate.int_segment_recompute_from"}
# the segment history's working tables hold the dates a build computed: a night's equal the
# full build's rows of those dates
STAYS_ROWS = "select count(*) from intermediate.int_customer_segment_stays"
NIGHT_DATES = (
    "where as_of_date >= "
    "(select recompute_from from incremental.intermediate.int_segment_recompute_from)"
)
NIGHT_ONLY = {
    f"intermediate.{name}"
    for name in ("int_customer_lifecycle", "int_customer_rfm", "int_customer_segments_by_date")
}
TRANSACTION = ["transaction_id", "source_customer_id", "occurred_at", "amount"]
INTERACTION = ["interaction_id", "source_customer_id", "occurred_at", "channel"]
INTERACTION += ["interaction_type", "is_complaint", "resolved_at"]


def _crm_customers():
    frame = customers()
    frame["national_id"] = ""
    frame.loc[20, "national_id"] = "QQ123456C"
    # known on the first night, dated on the second: c9's new e-mail comes into its date
    moved = frame.loc[[9]].assign(email="new9@example.com", updated_at=f"{NIGHTS[1]}T08:00:00")
    return pd.concat([frame, moved], ignore_index=True)


def _shop_customer(**changes):
    record = {"source_customer_id": "s20", "first_name": "Ola", "last_name": "Nordmann"}
    record |= {"email": "ola@shop.example", "postcode": "9999", "national_id": ""}
    record |= {"updated_at": "2024-01-01T09:00:00"} | changes
    return pd.DataFrame([record])


def _land_night(landing, night):
    """What each night brings (night 0 is the first load)."""
    crm, shop = landing / "crm", landing / "shop"
    if night == 0:
        day1, day2 = (d.isoformat() for d in NIGHTS)
        day3 = LATE_ROW_DAY.isoformat()
        write(crm / "customers" / "n0.csv", _crm_customers())
        early = pd.DataFrame(  # known on the first night, dated on the next two
            [("t-d2", "c3", day2, "30.00"), ("t-d3", "c4", day3, "40.00")], columns=TRANSACTION
        )
        write(crm / "transactions" / "n0.csv", pd.concat([purchases(), early]))
        tickets = [
            ("i-open", "c5", f"{day1}T09:00:00", "phone", "complaint", "true", f"{day2}T10:00"),
            ("i-done", "c6", f"{day1}T08:00:00", "web", "question", "false", f"{day1}T09:00"),
        ]
        write(crm / "interactions" / "n0.csv", pd.DataFrame(tickets, columns=INTERACTION))
        write(shop / "customers" / "n0.csv", _shop_customer())
        shop_txn = [("s-1", "s20", "2024-05-02", "15.00"), ("s-2", "s20", "2024-06-01", "25.00")]
        write(shop / "transactions" / "n0.csv", pd.DataFrame(shop_txn, columns=TRANSACTION))
    else:
        first = purchases().iloc[0]
        rows = [
            (first.transaction_id, first.source_customer_id, first.occurred_at, "999.00"),
            ("t-new1", "c7", NIGHTS[1].isoformat(), "70.00"),
        ]
        write(crm / "transactions" / "n1.csv", pd.DataFrame(rows, columns=TRANSACTION))
        # the shop's customer turns out to be crm's c20
        same = {"first_name": "Name20", "last_name": "Surname20", "national_id": "QQ123456C"}
        write(shop / "customers" / "n1.csv", _shop_customer(**same))
        rows = [("s-3", "s20", NIGHTS[1].isoformat(), "35.00")]
        write(shop / "transactions" / "n1.csv", pd.DataFrame(rows, columns=TRANSACTION))


@pytest.fixture(scope="module")
def nights(tmp_path_factory, dbt_manifest):
    from orchestration.settings import CifSettings

    root = tmp_path_factory.mktemp("incremental")
    modes = []
    for night, as_of in enumerate(NIGHTS):
        _land_night(root / "landing", night)
        settings = CifSettings.in_folder(root, as_of)
        report = nightly(settings)
        assert report.ok, report.explanation()
        state = read(settings.warehouse, "select * from meta.build_state")
        modes.append(state.full_rebuild_reason.iloc[0])
        assert state.as_of.iloc[0] == pd.Timestamp(as_of)
    return {"wh": root / "wh" / "cif.duckdb", "root": root, "modes": modes}


def _build_copy(wh, root, as_of, full_refresh, variables=None):
    """The dbt layers of a copy of `wh` built as of `as_of` with the run vars `variables`
    (incremental when the build state allows it, unless `full_refresh`)."""
    from orchestration.dbt import LAYERS
    from orchestration.dbt_project import build_layer

    copy = root / "cif.duckdb"
    root.mkdir()
    shutil.copy(wh, copy)
    for tag in LAYERS:
        build_layer(copy, as_of, tag, root / "target" / tag, full_refresh, variables)
    return copy


@pytest.fixture(scope="module")
def rebuilt(nights):
    """The dbt layers of a copy of the last night's warehouse, rebuilt with --full-refresh."""
    return _build_copy(nights["wh"], nights["root"] / "rebuilt", NIGHTS[-1], full_refresh=True)


@pytest.fixture(scope="module")
def month_later(nights):
    """A month after the last night, on copies: added incrementally, and rebuilt in full."""
    root = nights["root"]
    return {
        "incremental": _build_copy(nights["wh"], root / "later", MONTH_LATER, False),
        "rebuilt": _build_copy(nights["wh"], root / "later_rebuilt", MONTH_LATER, True),
    }


def read(wh, sql):
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute(sql).df()


def test_the_first_night_builds_in_full_and_the_next_incrementally(nights):
    assert nights["modes"][0] == "no previous build"
    assert pd.isna(nights["modes"][1])


def test_the_nights_brought_what_the_comparison_relies_on(nights):
    facts = read(nights["wh"], "select * from core.fct_transactions").set_index("transaction_id")
    assert {"t-d2", "t-new1", "s-3"} <= set(facts.index)  # a late-known row came in
    assert "t-d3" not in facts.index  # dated after the as-of date
    corrected = purchases().iloc[0].transaction_id
    assert float(facts.loc[corrected, "original_amount"]) == 999.0  # the latest load won
    assert facts.loc[["s-1", "s-2", "s-3"], "customer_key"].nunique() == 1
    c20 = facts[facts.source_customer_id == "c20"].customer_key
    assert (facts.loc[["s-1", "s-2"], "customer_key"] == c20.iloc[0]).all()  # re-keyed facts
    merges = read(nights["wh"], "select * from core.customer_key_changes")
    assert len(merges) >= 1
    tickets = read(nights["wh"], "select * from core.fct_interactions").set_index("interaction_id")
    assert pd.notna(tickets.loc["i-open", "resolved_at"])  # resolved on the second day
    records = read(nights["wh"], "select * from intermediate.int_customer_records_unioned")
    c9 = records[records.source_customer_id == "c9"].set_index("email")
    assert c9.is_latest.to_dict() == {"p9@example.com": False, "new9@example.com": True}


def _dbt_tables(wh):
    with duckdb.connect(str(wh), read_only=True) as con:
        rows = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in "
            f"({', '.join(repr(s) for s in DBT_SCHEMAS)}) order by all"
        ).fetchall()
    from models.identity import TABLES as IDENTITY_TABLES

    return [f"{s}.{t}" for s, t in rows if f"{s}.{t}" not in set(IDENTITY_TABLES)]


def _differing_tables(incremental, rebuilt):
    """The tables dbt builds that are not the same, row by row, in the two warehouses."""
    tables = _dbt_tables(incremental)
    assert tables == _dbt_tables(rebuilt)
    con = duckdb.connect()
    con.execute(f"attach '{incremental}' as incremental (read_only)")
    con.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
    differing = {}
    for table in sorted(set(tables) - BUILD_RECORDS):
        dates = NIGHT_DATES if table in NIGHT_ONLY else ""
        counts = [
            con.execute(f"select count(*) from {a}.{table} {dates}").fetchone()[0]
            for a in ("incremental", "rebuilt")
        ]
        only = [
            con.execute(
                f"select count(*) from (select * from {a}.{table} {dates} except all "
                f"select * from {b}.{table} {dates})"
            ).fetchone()[0]
            for a, b in (("incremental", "rebuilt"), ("rebuilt", "incremental"))
        ]
        if counts[0] != counts[1] or any(only):
            differing[table] = (counts, only)
    return differing


def _recomputed_from(wh):
    row = read(wh, "select * from intermediate.int_segment_recompute_from").iloc[0]
    return row.recompute_from.date(), row.history_starts_on.date()


def test_a_full_refresh_gives_the_same_tables_as_the_incremental_nights(nights, rebuilt):
    tables = set(_dbt_tables(nights["wh"]))
    assert {"core.fct_transactions", "marts.kpi_daily", "marts.customer_360"} <= tables
    assert {"marts.customer_segment_history", "intermediate.int_customer_segment_stays"} <= tables
    assert not _differing_tables(nights["wh"], rebuilt)
    rows = read(nights["wh"], "select count(*) as n from core.fct_transactions").n.iloc[0]
    assert rows == len(purchases()) + 1 + 3 + 1  # t-d2, the shop's, t-new1
    # the corrected transaction and the merge reach back: the segments were recomputed from
    # the first purchase day they touch
    assert _recomputed_from(nights["wh"])[0] <= dt.date(2024, 5, 2)
    assert _recomputed_from(rebuilt)[0] == dt.date(1900, 1, 1)


def test_a_month_later_keeps_the_history_before_its_changes_and_equals_a_full_rebuild(
    month_later,
):
    incremental = month_later["incremental"]
    # the second night's date (2024-07-01) left with its month: recomputed from it, before the
    # late row's date; the month-end 2023-07-31 left the 12 months' window
    assert _recomputed_from(incremental) == (NIGHTS[-1], dt.date(2023, 8, 31))
    dates = read(
        incremental, "select distinct as_of_date from intermediate.int_customer_segment_stays"
    )
    dates = set(dates.as_of_date.dt.date)
    assert {dt.date(2023, 8, 31), NIGHTS[0], dt.date(2024, 7, 31), MONTH_LATER} <= dates
    assert NIGHTS[-1] not in dates and min(dates) == dt.date(2023, 8, 31)
    # the working tables hold only the dates the night computed
    for table in NIGHT_ONLY:
        computed = read(incremental, f"select min(as_of_date) as first from {table}")
        assert computed["first"].iloc[0].date() >= NIGHTS[-1]
    facts = read(incremental, "select transaction_id from core.fct_transactions")
    assert "t-d3" in set(facts.transaction_id)  # known since the first night, dated 2024-07-02
    assert not _differing_tables(incremental, month_later["rebuilt"])
    # the spells, kept by incremental nights, give every evaluation date's segment
    assert read(incremental, SPELLS_AGAINST_STAYS).iloc[0, 0] == 0
    spells = read(incremental, "select count(*) from marts.customer_segment_history")
    assert 0 < spells.iloc[0, 0] < read(incremental, STAYS_ROWS).iloc[0, 0]


def _uniqueness_failures(wh, root, table: str, duplicate_of: str) -> int:
    """The failures of `table`'s uniqueness check on a copy of `wh` in which the row
    `duplicate_of` (a where clause) was written twice."""
    from orchestration.dbt_project import dbt_args, invoke, parsed_manifest

    copy = root / "cif.duckdb"
    root.mkdir(parents=True)
    shutil.copy(wh, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(f"insert into {table} select * from {table} where {duplicate_of} limit 1")
    select = f"{table.split('.')[-1]},test_name:unique_combination"
    args = dbt_args(["test", "--select", select], root / "target", {"warehouse_path": str(copy)})
    (result,) = invoke(args, manifest=parsed_manifest(copy)).result.results
    return result.failures


@pytest.mark.parametrize("table", ["intermediate.int_customer_segment_stays"])
def test_the_history_uniqueness_check_reads_the_dates_the_night_rewrote(nights, month_later, table):
    incremental = month_later["incremental"]
    rewritten_from = f"as_of_date >= date '{NIGHTS[-1]}'"  # _recomputed_from, as above
    kept = f"as_of_date < date '{NIGHTS[-1]}'"
    root = nights["root"] / table
    assert _uniqueness_failures(incremental, root / "dup_new", table, rewritten_from) == 1
    # a row of a kept date was checked on the night that wrote it: not read again
    assert _uniqueness_failures(incremental, root / "dup_kept", table, kept) == 0
    # a full build's check reads every date
    assert _uniqueness_failures(month_later["rebuilt"], root / "dup_full", table, kept) == 1


# The later nights, on a copy of the site after NIGHTS: (name, as-of, the run's vars).
CORRECTION_NIGHT = LATE_ROW_DAY
CORRECTED_TO = CORRECTION_NIGHT + dt.timedelta(days=1)  # after the correction night's as-of
RATES = {**project_vars()["currency_rates"], "GBP": 0.5}
TRUST = {**project_vars()["source_trust"], "shop": {"rank": 1, "reason": "a test's trust"}}
LATER_NIGHTS = [
    ("correction", CORRECTION_NIGHT, {}),
    ("currency", CORRECTED_TO, {"currency_rates": RATES}),
    (
        "trust",
        CORRECTED_TO + dt.timedelta(days=1),
        {"currency_rates": RATES, "source_trust": TRUST},
    ),
]


def _land_correction(landing):
    """t-d2 and i-done re-sent dated after the night's as-of, and a purchase in GBP."""
    crm = landing / "crm"
    rows = [("t-d2", "c3", CORRECTED_TO.isoformat(), "33.00", "EUR")]
    rows += [("t-gbp", "c8", CORRECTION_NIGHT.isoformat(), "10.00", "GBP")]
    write(crm / "transactions" / "n2.csv", pd.DataFrame(rows, columns=[*TRANSACTION, "currency"]))
    ticket = [("i-done", "c6", f"{CORRECTED_TO}T08:00:00", "web", "question", "false", "")]
    write(crm / "interactions" / "n2.csv", pd.DataFrame(ticket, columns=INTERACTION))


@pytest.fixture(scope="module")
def later_nights(nights):
    """Each later night run on a copy of the site (no --full-refresh), with a copy of its
    warehouse rebuilt in full with the same vars, its build state and its printed summary."""
    from rich.console import Console

    from orchestration.settings import CifSettings
    from orchestration.summary import print_summary

    root = nights["root"] / "later_nights"
    shutil.copytree(nights["root"] / "landing", root / "landing")
    (root / "wh").mkdir()
    shutil.copy(nights["wh"], root / "wh" / "cif.duckdb")
    _land_correction(root / "landing")
    result = {}
    for name, as_of, variables in LATER_NIGHTS:
        settings = CifSettings.in_folder(root, as_of, dbt_vars=json.dumps(variables))
        report = nightly(settings)
        assert report.ok, report.explanation()
        console = Console(record=True, width=200)
        print_summary(console, report)
        result[name] = {
            "state": read(settings.warehouse, "select * from meta.build_state").iloc[0],
            "summary": console.export_text(),
            "report": report.report_file.read_text(),
            "rebuilt": _build_copy(settings.warehouse, root / name, as_of, True, variables),
            "facts": read(settings.warehouse, "select * from core.fct_transactions"),
        }
        shutil.copy(settings.warehouse, root / name / "night.duckdb")
        result[name]["night"] = root / name / "night.duckdb"
    return result


def test_a_correction_dated_after_the_as_of_takes_the_earlier_version_out_that_night(
    later_nights,
):
    night = later_nights["correction"]
    assert pd.isna(night["state"].full_rebuild_reason)  # added incrementally
    assert "rebuilt in full" not in night["summary"] + night["report"]
    facts = night["facts"].set_index("transaction_id")
    assert "t-d2" not in facts.index  # its new version is dated after the as-of
    assert {"t-d3", "t-gbp"} <= set(facts.index)
    interactions = read(night["night"], "select interaction_id from core.fct_interactions")
    assert "i-done" not in set(interactions.interaction_id)
    assert not _differing_tables(night["night"], night["rebuilt"])
    # the next night reaches the new version's date
    later = later_nights["currency"]["facts"].set_index("transaction_id")
    assert float(later.loc["t-d2", "original_amount"]) == 33.0


@pytest.mark.parametrize(
    "name, changed", [("currency", "currency_rates"), ("trust", "source_trust")]
)
def test_a_changed_var_rebuilds_the_night_in_full_by_itself_and_says_why(
    later_nights, name, changed
):
    night = later_nights[name]
    assert night["state"].full_rebuild_reason == f"vars changed: {changed}"
    assert f"rebuilt in full: vars changed: {changed}." in night["summary"]
    assert f"rebuilt in full: vars changed: {changed}." in night["report"]
    run_vars = {night_name: v for night_name, _, v in LATER_NIGHTS}[name]
    assert json.loads(night["state"].inputs)["vars"][changed] == run_vars[changed]
    assert not _differing_tables(night["night"], night["rebuilt"])
    gbp = night["facts"].set_index("transaction_id").loc["t-gbp"]
    assert float(gbp.amount) == pytest.approx(10.0 / 0.5)  # the run's rate, not the project's
