"""The department marts on a real nightly run: populated, consistent, rules reproduced, exported."""

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.assets import MART_KEYS
from orchestration.dbt_project import DBT_PROJECT_DIR, dbt_executable
from tests.helpers import DEMO_END, SPELLS_AGAINST_STAYS, run_command

pytestmark = pytest.mark.slow(seconds=30)
AS_OF = DEMO_END.isoformat()
MARTS = [key.path[-1] for key in MART_KEYS]  # from the dbt manifest, via the assets
SCHEMES = {"rfm", "value_tier", "life_cycle", "age_band", "preferred_channel", "channel_mix"}


@pytest.fixture(scope="module")
def site(published_demo) -> Path:
    """The demo through one `cif run` (read-only: shared with other test modules)."""
    return published_demo.root


@pytest.fixture(scope="module")
def wh(site):
    con = duckdb.connect(str(site / "warehouse" / "cif.duckdb"), read_only=True)
    yield con
    con.close()


def df(con, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_every_mart_is_populated(wh):
    for mart in MARTS:
        assert wh.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart


def test_one_segment_per_customer_and_scheme_matching_customer_360(wh):
    seg = df(wh, "select * from marts.customer_segments")
    customers = wh.execute("select count(*) from marts.customer_360").fetchone()[0]
    assert set(seg["scheme"]) == SCHEMES
    assert (seg.groupby("scheme")["customer_key"].nunique() == customers).all()
    assert not seg.duplicated(["customer_key", "scheme"]).any()
    c360 = df(wh, "select customer_key, value_segment, is_key_account from marts.customer_360")
    tiers = c360.merge(seg[seg["scheme"] == "value_tier"], on="customer_key")
    assert len(tiers) == customers and (tiers["value_segment"] == tiers["segment"]).all()
    keys = set(df(wh, "select customer_key from marts.key_accounts")["customer_key"])
    assert set(c360.loc[c360["is_key_account"], "customer_key"]) == keys


def test_segment_history_is_kept_as_spells(wh):
    spells = df(
        wh, "select * from marts.customer_segment_history order by customer_key, scheme, valid_from"
    )
    stays = df(wh, "select * from intermediate.int_customer_segment_stays")
    assert set(spells["scheme"]) == SCHEMES
    assert len(spells) < len(stays) and stays["as_of_date"].nunique() > 1
    by_scheme = spells.groupby(["customer_key", "scheme"])
    # spells follow one another: each ends where the next begins, the last lasts
    following = by_scheme["valid_from"].shift(-1)
    assert (
        (spells["valid_to"] == following) | (spells["valid_to"].isna() & following.isna())
    ).all()
    assert (spells["is_current"] == spells["valid_to"].isna()).all()
    assert (by_scheme["is_current"].sum() == 1).all()
    moved = spells[spells["previous_segment"].notna()]
    assert len(moved) > 0 and (moved["previous_segment"] != moved["segment"]).all()
    before = by_scheme["segment"].shift(1)
    assert (moved["previous_segment"] == before[moved.index]).all()


def test_the_spells_give_the_segment_of_every_evaluation_date(wh):
    """The segment on date D from the spells equals the history's row of D, for every
    customer, scheme and evaluation date."""
    differing = wh.execute(SPELLS_AGAINST_STAYS).fetchone()[0]
    assert differing == 0
    rows = wh.execute("select count(*) from intermediate.int_customer_segment_stays").fetchone()
    assert rows[0] > 0


def test_key_accounts_name_the_criteria_that_made_them_key(wh):
    ka = df(wh, "select * from marts.key_accounts")
    names = {
        "meets_clv_share": "top_clv_share",
        "meets_revenue": "revenue",
        "meets_products": "products",
        "meets_managed": "managed",
    }
    for _, row in ka.iterrows():
        expected = [label for flag, label in names.items() if row[flag]]
        assert row["key_criteria"].split(", ") == expected
    assert {"person", "institution"} <= set(ka["customer_type"])


def test_key_account_actual_vs_target_reproduces_a_hand_computation(wh):
    perf = df(wh, "select * from marts.key_account_performance where is_period_complete")
    row = perf.sort_values(["revenue_actual", "ka_id"], ascending=False).iloc[0]
    txns = df(
        wh,
        f"select occurred_on, amount from core.fct_transactions where customer_key = {row['customer_key']}",
    )
    in_period = txns[
        (txns["occurred_on"] >= row["period_start"]) & (txns["occurred_on"] <= row["period_end"])
    ]
    actual = float(in_period["amount"].sum())
    target = df(
        wh,
        "select revenue_target, wallet_estimate from staging.stg_kam__targets "
        f"where source_customer_id = '{row['ka_id']}' and period = '{row['period']}'",
    ).iloc[0]
    assert float(row["revenue_actual"]) == pytest.approx(actual)
    assert row["revenue_attainment"] == pytest.approx(
        actual / float(target["revenue_target"]), rel=1e-5
    )
    assert row["share_of_wallet_actual"] == pytest.approx(
        actual / float(target["wallet_estimate"]), rel=1e-5
    )


def test_the_rule_unit_tests_pass_against_the_built_warehouse(site, tmp_path):
    """dbt unit tests: life cycle, RFM, key-account criteria, the hand-computed actual vs target."""
    copy = tmp_path / "cif.duckdb"
    shutil.copy(site / "warehouse" / "cif.duckdb", copy)
    result = run_command(
        [
            dbt_executable(),
            "test",
            "--select",
            "test_type:unit",
            "--vars",
            json.dumps({"warehouse_path": str(copy), "as_of": AS_OF}),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
        ],
        cwd=DBT_PROJECT_DIR,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    for name in (
        "life_cycle_stages_follow_the_documented_rules",
        "rfm_scores_and_named_segments",
        "key_account_criteria",
        "key_account_actual_vs_target_hand_computed",
        "golden_identity_from_the_most_trusted_source",
        "golden_contact_most_recent_and_address_whole",
        "golden_nulls_never_win",
        "account_roles_resolve_to_customers",
        "account_roles_in_customer_360",
        "a_night_continues_each_stay_from_the_last_kept_row",
        "current_targets_of_the_representing_key_account",
    ):
        assert name in result.stdout


def test_kpi_daily_balances_active_customers(wh):
    kpi = df(wh, "select * from marts.kpi_daily order by kpi_date")
    assert kpi["kpi_date"].is_unique and kpi["kpi_date"].max().date() == DEMO_END
    flow = kpi["active_customers"].shift(1) + kpi["new_customers"] + kpi["won_back_customers"]
    flow -= kpi["lapsed_customers"]
    assert (flow.iloc[1:] == kpi["active_customers"].iloc[1:]).all()
    assert kpi["revenue"].sum() > 0 and kpi["retention_rate_30d"].dropna().between(0, 1).all()
    total = wh.execute(
        f"select sum(amount) from core.fct_transactions where occurred_on >= date '{kpi['kpi_date'].min().date()}'"
    ).fetchone()[0]
    assert float(kpi["revenue"].sum()) == pytest.approx(float(total))


def test_win_back_ranks_lapsed_customers_by_value_at_stake(wh):
    wb = df(wh, "select * from marts.win_back_candidates order by win_back_rank")
    assert set(wb["life_cycle_stage"]) <= {"lapsed", "at risk"}
    assert wb["value_at_stake"].is_monotonic_decreasing


def test_exports_validate_against_the_manifest(site, wh):
    latest = site / "exports" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["as_of"] == AS_OF
    tables = {t["table"]: t for t in manifest["tables"]}
    assert set(MARTS) <= set(tables)
    for name, meta in tables.items():
        for file in meta["files"]:  # one, or one per month of a large or history table
            parquet = pq.ParquetFile(latest / file["file"])
            assert parquet.metadata.num_rows == file["rows"], file["file"]
            assert parquet.schema_arrow.names == [c["name"] for c in meta["columns"]], name
            assert not set(meta["pii_columns_excluded"]) & set(parquet.schema_arrow.names)
        in_db = wh.execute(f"select count(*) from marts.{name}").fetchone()[0]
        assert in_db == meta["rows"] == sum(f["rows"] for f in meta["files"]), name
    shown = {p["column"]: p["shown_as"] for p in tables["customer_360"]["personal_data"]}
    assert shown["first_name"] == shown["email"] == "pseudonym"
    assert shown["date_of_birth"] == "year" and shown["postcode"] == "district"
    names = [c["name"] for c in tables["customer_360"]["columns"]]
    assert "date_of_birth_year" in names and "date_of_birth" not in names


def trust_ranks() -> tuple[dict[str, int], int]:
    """The source trust ranking as declared once, in dbt_project.yml."""
    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    ranks = {system: trust["rank"] for system, trust in variables["source_trust"].items()}
    return ranks, variables["source_trust_default_rank"]


def customer_records(wh) -> pd.DataFrame:
    records = df(
        wh,
        "select m.customer_key, r.* from intermediate.int_customer_records_unioned r "
        "join core.customer_identity_map m using (source_system, source_customer_id)",
    )
    ranks, default = trust_ranks()
    records["trust_rank"] = records["source_system"].map(ranks).fillna(default)
    return records


def keep(frame: pd.DataFrame, column: str, how: str) -> pd.DataFrame:
    """Each customer's rows with the min or max of a column."""
    return frame[frame[column] == frame.groupby("customer_key")[column].transform(how)]


def current_golden(wh) -> pd.DataFrame:
    return df(wh, "select * from core.dim_customer where is_current").set_index("customer_key")


def test_golden_surname_comes_from_the_most_trusted_source_that_has_one(wh):
    records = customer_records(wh)
    named = records[records["last_name"].notna()]
    latest = keep(keep(named, "trust_rank", "min"), "updated_at", "max")
    expected = latest.groupby("customer_key").agg(
        last_names=("last_name", set), sources=("source_system", set)
    )
    golden = current_golden(wh)
    assert len(expected) > 100
    assert golden["last_name"].notna().sum() == len(expected)  # a customer with a name keeps it
    for key, row in expected.iterrows():
        assert golden.at[key, "last_name"] in row["last_names"], key
        assert golden.at[key, "name_source"] in row["sources"], key
    # trust decides: for some customers it overrules a more recent, less trusted spelling
    newest = keep(named, "updated_at", "max")
    overruled = sorted(
        set(newest["customer_key"])
        - set(newest.merge(golden.reset_index()[["customer_key", "last_name"]])["customer_key"])
    )
    ranks, default = trust_ranks()
    golden_rank = golden.loc[overruled, "name_source"].map(ranks).fillna(default)
    newest_rank = newest.groupby("customer_key")["trust_rank"].min().loc[overruled]
    assert overruled and (golden_rank < newest_rank).all()


def test_golden_contact_is_the_most_recent_and_the_address_one_record(wh):
    records = customer_records(wh)
    golden = current_golden(wh)
    phones = records[records["phone"].notna()]
    expected_phone = (
        keep(keep(phones, "updated_at", "max"), "trust_rank", "min")
        .groupby("customer_key")["phone"]
        .agg(set)
    )
    assert len(expected_phone) > 100
    for key, phones_of_key in expected_phone.items():
        assert golden.at[key, "phone"] in phones_of_key, key
    address = ["address_line", "city", "postcode", "country"]
    with_address = golden[golden["address_source"].notna()].reset_index()
    assert len(with_address) > 100
    whole = with_address.merge(
        records[["customer_key", "source_system", *address]].rename(
            columns={"source_system": "address_source"}
        ),
        on=["customer_key", "address_source", *address],
        how="left",
        indicator=True,
    )
    # null-safe: every golden address is exactly one record's address, of the named source
    missing = whole[whole["_merge"] == "left_only"]
    assert missing.empty, missing[["customer_key", *address]].head()


def test_account_roles_in_customer_360_match_the_branch_holders(wh):
    holders = df(
        wh,
        "select m.customer_key, h.account_id, h.holder_role, h.valid_to, a.closed_on "
        "from staging.stg_branch__account_holders h "
        "join core.customer_identity_map m using (source_system, source_customer_id) "
        "left join staging.stg_branch__accounts a using (source_system, account_id)",
    )
    current = holders[holders["valid_to"].isna() & holders["closed_on"].isna()]
    c360 = df(wh, "select * from marts.customer_360").set_index("customer_key")

    def accounts(roles: set[str]) -> pd.Series:
        held = current[current["holder_role"].isin(roles)]
        counts = held.groupby("customer_key")["account_id"].nunique()
        return counts.reindex(c360.index, fill_value=0)

    assert (c360["accounts_owned"] == accounts({"owner", "joint_owner"})).all()
    assert (c360["accounts_paid_for"] == accounts({"payer"})).all()
    assert (c360["accounts_used"] == accounts({"user"})).all()
    assert c360["accounts_paid_for"].sum() > 0 and c360["accounts_used"].sum() > 0
    payers = current[current["holder_role"] == "payer"]
    owners = current[current["holder_role"].isin({"owner", "joint_owner"})]
    pairs = payers.merge(owners, on="account_id", suffixes=("", "_owner"))
    for_others = set(
        pairs.loc[pairs["customer_key"] != pairs["customer_key_owner"], "customer_key"]
    )
    assert for_others and set(c360.index[c360["pays_for_others"]]) == for_others
