"""The demo generator: truth for every record, mess at its configured rates, life-cycle
behaviour, determinism, and a canonical-layout source (the real CDNOW sample) landing as is."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.demo.config import MessRates, PopulationSpec
from ingest.demo.generator import SYSTEMS, generate
from ingest.demo.population import simulate
from ingest.loader import load_landing

START, END = dt.date(2023, 7, 1), dt.date(2025, 6, 30)
SEPARATORS = {"branch": ";"}
# the customer entity of each system and its key column
CUSTOMER_KEYS = {
    ("branch", "customers"): "CUST_NO",
    ("web", "accounts"): "login",
    ("app", "profiles"): "device_id",
    ("callcentre", "contacts"): "PhoneNumber",
    ("email", "subscribers"): "email_address",
    ("kam", "institutions"): "ka_id",
}
# entities whose rows point at a customer record of the same system
ACTIVITY_KEYS = {
    ("branch", "transactions"): "CUST_NO",
    ("branch", "account_holders"): "CUST_NO",
    ("web", "orders"): "login",
    ("app", "events"): "device_id",
    ("callcentre", "calls"): "PhoneNumber",
    ("callcentre", "tickets"): "PhoneNumber",
    ("kam", "targets"): "ka_id",
}


def read_entity(out: Path, system: str, entity: str) -> pd.DataFrame:
    """Every row of every file of an entity, as text (unparseable JSON lines dropped)."""
    frames = []
    for path in sorted((out / system / entity).iterdir()):
        if path.suffix == ".csv":
            frame = pd.read_csv(path, sep=SEPARATORS.get(system, ","), dtype=str)
        elif path.suffix == ".jsonl":
            rows = []
            for line in path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            frame = pd.DataFrame(rows).astype(str).where(pd.DataFrame(rows).notna())
        else:
            frame = pd.read_parquet(path)
            frame = frame.astype(str).where(frame.notna())
        frames.append(frame.assign(_file=path.name))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "landing"
    generate(out, customers=1500, start=START, end=END, seed=3)
    return out


@pytest.fixture(scope="module")
def truth(landing: Path) -> dict[str, pd.DataFrame]:
    t = landing / "_truth"
    return {
        "customers": pd.read_csv(t / "customers.csv", dtype={"source_customer_id": str}),
        "people": pd.read_csv(t / "people.csv"),
        "mess": pd.read_csv(t / "mess.csv"),
    }


def test_all_six_systems_in_three_formats(landing: Path):
    systems = {p.name for p in landing.iterdir() if not p.name.startswith("_")}
    assert systems == set(SYSTEMS)
    suffixes = {p.suffix for p in landing.glob("*/*/*") if p.parts[-3] != "_truth"}
    assert suffixes == {".csv", ".jsonl", ".parquet"}
    assert (landing / "branch" / "customers" / "cust_202307.csv").exists()
    assert (landing / "kam" / "targets" / "targets_2025Q1.parquet").exists()


def test_every_source_customer_record_has_its_truth(landing: Path, truth):
    customers, people = truth["customers"], truth["people"]
    assert customers.person_id.isin(people.person_id).all()
    assert not customers.duplicated(["source_system", "source_customer_id"]).any()
    for (system, entity), key in CUSTOMER_KEYS.items():
        ids = set(read_entity(landing, system, entity)[key].dropna()) - {""}
        known = set(customers.source_customer_id[customers.source_system == system])
        assert ids <= known, (system, ids - known)
        assert len(ids) >= 0.98 * len(known), system  # only malformed rows may hide a record
    for (system, entity), key in ACTIVITY_KEYS.items():
        ids = set(read_entity(landing, system, entity)[key].dropna()) - {""}
        known = set(customers.source_customer_id[customers.source_system == system])
        assert ids <= known, (system, entity, sorted(ids - known)[:5])
    # households: every record's household is its person's household
    merged = customers.merge(people, on="person_id", suffixes=("", "_p"))
    assert (merged.household_id == merged.household_id_p).all()
    assert set(customers.party_type) == {"person", "organisation"}


def test_each_kind_of_mess_is_within_its_configured_range(truth):
    mess = truth["mess"]
    rates = MessRates()
    kinds = {
        "name_typo",
        "nickname",
        "swapped_names",
        "missing_field",
        "second_account",
        "duplicate_row",
        "late_arrival",
        "malformed_row",
    }
    assert kinds <= set(mess.kind)
    for kind in kinds:
        rows = mess[mess.kind == kind]
        eligible, applied = rows.eligible.sum(), rows.applied.sum()
        p = getattr(rates, kind)
        tolerance = 4 * math.sqrt(p * (1 - p) / eligible) + 0.001
        assert abs(applied / eligible - p) <= tolerance, (kind, applied / eligible, p)
        assert applied > 0, kind
    assert (mess.configured.dropna() <= 1).all()


def test_name_mess_measured_in_the_files_against_the_truth(landing: Path, truth):
    """Independently of the log: swapped names and nicknames seen in the branch master."""
    rows = read_entity(landing, "branch", "customers").dropna(subset=["CUST_NO"])
    rows = rows[rows.CUST_TYPE == "P"].drop_duplicates("CUST_NO")
    who = truth["customers"].query("source_system == 'branch'")
    rows = rows.merge(who, left_on="CUST_NO", right_on="source_customer_id")
    rows = rows.merge(truth["people"], on="person_id")
    first, last = rows.first_name.str.upper(), rows.last_name.str.upper()
    swapped = (last == rows.FIRST_NM) & (first == rows.LAST_NM)
    exact = (first == rows.FIRST_NM) & (last == rows.LAST_NM)
    assert 0.0 < swapped.mean() < 0.03
    assert 0.85 < exact.mean() < 0.97  # nicknames, typos and swaps: about 1 record in 10
    assert rows.FIRST_NM.isin(["BOB", "MIKE", "LIZ", "SUE", "JIM", "TOM", "BILL"]).any()


def test_file_mess_is_visible_in_the_files(landing: Path, truth):
    mess = truth["mess"].set_index(["system", "entity", "kind"])
    txn = read_entity(landing, "branch", "transactions")
    assert (
        txn.duplicated(["TXN_REF"]).sum()
        == mess.loc[("branch", "transactions", "duplicate_row")].applied
    )
    # late arrivals: a later quarter's file holding rows booked in an earlier quarter
    booked = pd.to_datetime(txn.BOOK_DT, format="%d.%m.%Y", errors="coerce")
    file_q = txn._file.str.extract(r"txn_(\d{4})(\d{2})").astype(int)
    file_month = file_q[0] * 12 + file_q[1] - 1
    assert (booked.dt.year * 12 + booked.dt.month - 1 < file_month - 2).sum() > 0
    # shared e-mail addresses and phones within households
    people = truth["people"]
    shared = people[people.shares_email]
    heads = people.set_index("household_id").query("household_member == 0").email
    assert (
        len(shared) > 0
        and (shared.email.to_numpy() == heads.reindex(shared.household_id).to_numpy()).all()
    )
    assert people.shares_phone.sum() > 0
    # changed surnames and addresses: several versions of a record with later updated_at
    versions = read_entity(landing, "branch", "customers").groupby("CUST_NO").size()
    assert (versions > 1).mean() > 0.03
    web = truth["customers"].query("source_system == 'web'")
    assert (web.persons_on_record > 1).any()  # a login shared by a couple
    assert web.person_id.duplicated().any()  # a person with two logins


def test_malformed_rows_are_exactly_the_quarantined_rows(landing: Path, truth, tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        results = load_landing(con, landing)
        assert all(r.status == "loaded" for r in results)
        # A broken required field costs the row; a broken optional one only its value.
        quarantined = con.execute(
            "select source_system, entity, count(*) from ("
            "select source_system, entity from quarantine.rejected_rows union all "
            "select source_system, entity from (select distinct source_system, entity, "
            "batch_id, row_number from quarantine.rejected_values)) group by all"
        ).fetchall()
    got = {(s, e): n for s, e, n in quarantined}
    logged = truth["mess"].query("kind == 'malformed_row' and applied > 0")
    expected = {(r.system, r.entity): r.applied for r in logged.itertuples()}
    assert got == expected


def test_life_cycle_behaviour(truth):
    people = truth["people"]
    persons = people[people.party_type == "person"]
    churned = persons.status == "churned"
    assert 0.1 < churned.mean() < 0.6
    assert persons.won_back_on.notna().sum() > 0  # some lapsed customers came back
    assert {"dropout", "complaint", "household"} <= set(persons.churn_cause.dropna())
    # BG/NBD: dropout happens only after a repeat purchase
    dropped = persons[(persons.churn_cause == "dropout") & persons.won_back_on.isna()]
    assert (dropped.purchases >= 2).all()
    # heterogeneous frequency and spend
    assert persons.purchases.std() > persons.purchases.mean() * 0.8
    per_purchase = persons.spend / persons.purchases
    assert per_purchase.quantile(0.9) > 2 * per_purchase.quantile(0.1)
    # acquisition over time, growing
    acquired = pd.to_datetime(persons.acquired_on)
    first_year = (acquired < pd.Timestamp("2024-07-01")).sum()
    assert 0 < first_year < len(persons) - first_year
    # age groups prefer different channels
    young, old = persons[persons.age_group == "18-29"], persons[persons.age_group == "65+"]
    assert young.uses_app.mean() > old.uses_app.mean() + 0.3
    assert old.uses_branch.mean() > young.uses_branch.mean() + 0.3
    # older couples decide together: both leave on the same day
    couples = persons[persons.churn_cause == "household"]
    assert len(couples) > 0
    older = persons[persons.household_id.isin(couples.household_id)]
    pairs = older[older.age_group == "65+"].groupby("household_id")
    assert (pairs.churned_on.nunique() == 1).mean() > 0.8


def test_complaints_make_people_leave():
    """On 20k simulated people (no files), about a thousand of whom complain: a fifth to a
    quarter of them leave because of it (45% of unresolved, 10% of resolved complaints), and
    nobody leaves over a complaint they never made. (Comparing churn rates with and without
    complaints is too noisy a test: other causes of leaving dilute the difference to 3-7 points.)"""
    spec = PopulationSpec(
        customers=20_000, start=dt.date(2023, 7, 1), end=dt.date(2025, 6, 30), seed=3
    )
    people = simulate(spec, np.random.default_rng(3)).people
    persons = people[people.party_type == "person"]
    complained = persons.complaints > 0
    left_over_it = persons.churn_cause == "complaint"
    assert complained.sum() > 500
    assert 0.15 < left_over_it[complained].mean() < 0.35
    assert not left_over_it[~complained].any()


def test_households_share_addresses(landing: Path, truth):
    rows = read_entity(landing, "branch", "customers").dropna(subset=["CUST_NO", "ZIP"])
    first = rows.drop_duplicates("CUST_NO")
    who = truth["customers"].query("source_system == 'branch' and party_type == 'person'")
    first = first.merge(who, left_on="CUST_NO", right_on="source_customer_id")
    sizes = first.groupby("household_id").person_id.nunique()
    multi = first[first.household_id.isin(sizes[sizes > 1].index)]
    same = multi.groupby("household_id").ZIP.nunique() == 1
    assert len(same) > 20 and same.mean() > 0.8
    singles = first[first.household_id.isin(sizes[sizes == 1].index)]
    assert singles.ZIP.nunique() > 0.8 * len(singles)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, customers=300, start=START, end=END, seed=5)
    generate(b, customers=300, start=START, end=END, seed=5)
    generate(c, customers=300, start=START, end=END, seed=6)
    digest_a = _digest(a)
    assert len(digest_a) > 50 and digest_a == _digest(b)
    other = _digest(c)
    assert sum(digest_a.get(k) == v for k, v in other.items()) < len(other) / 10


def test_clean_data_has_no_mess(tmp_path: Path):
    generate(tmp_path, customers=300, start=START, end=END, seed=5, mess=MessRates.none())
    mess = pd.read_csv(tmp_path / "_truth" / "mess.csv")
    assert (mess[mess.kind != "revised_target"].applied == 0).all()


def test_a_canonical_layout_source_lands_with_no_code_change(tmp_path: Path):
    """The real CDNOW sample (shipped with lifetimes) as a user's own source system."""
    from lifetimes.datasets import load_dataset

    cdnow = load_dataset(
        "CDNOW_sample.txt",
        header=None,
        sep=r"\s+",
        names=["customer_id", "customer_index", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    assert len(cdnow) == 6919
    landing = tmp_path / "landing"
    folder = landing / "cdnow" / "transactions"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "transaction_id": [f"CD{i}" for i in range(1, len(cdnow) + 1)],
            "source_customer_id": cdnow.customer_id,
            "occurred_at": pd.to_datetime(cdnow.date, format="%Y%m%d").dt.strftime("%Y-%m-%d"),
            "amount": cdnow.amount.map(lambda x: f"{x:.2f}"),
            "quantity": cdnow.quantity,  # an extra column: kept in raw
        }
    ).to_csv(folder / "cdnow_sample.csv", index=False)
    customers = landing / "cdnow" / "customers"
    customers.mkdir(parents=True)
    ids = np.sort(cdnow.customer_id.unique())
    pd.DataFrame({"source_customer_id": ids}).to_json(
        customers / "customers.jsonl", orient="records", lines=True
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        results = load_landing(con, landing)
        assert {(r.entity, r.status, r.rows_loaded, r.rows_quarantined) for r in results} == {
            ("transactions", "loaded", 6919, 0),
            ("customers", "loaded", len(ids), 0),
        }
        assert con.execute(
            "select count(*), count(distinct source_customer_id), sum(cast(amount as double)), "
            "any_value(_source_system), count(quantity) from raw.canonical__transactions"
        ).fetchone() == (6919, 2357, pytest.approx(cdnow.amount.sum(), abs=0.01), "cdnow", 6919)
