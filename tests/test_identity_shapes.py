"""Two shapes of customer data that share no identifier the demo relies on, each through a whole
nightly run (the job `cif run` starts) on hand-written canonical-layout files:

- one system with duplicates inside it (a CRM that registered some people twice, with typos, a
  nickname, a birth date typed wrongly, a new address);
- two systems with no shared identifier (a shop and a loyalty scheme: no national id, e-mail,
  phone or customer number in common), linked on names, birth dates and addresses only.

Each person is known to the test, so the customer counts are exact."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from orchestration.runner import run_nightly
from tests.helpers import HISTORY_DAY1, purchases, write

pytestmark = pytest.mark.slow

FORENAMES = ["olivia", "james", "amelia", "oliver", "isla", "george", "ava", "noah", "mia"]
FORENAMES += ["arthur", "grace", "leo", "freya", "oscar", "lily", "harry", "emily", "jack"]
SURNAMES = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies"]
SURNAMES += ["patel", "wright", "robinson", "thompson", "evans", "walker", "white", "roberts"]
STREETS = ["oak street", "mill lane", "church road", "station road", "high street"]


def people(n: int) -> pd.DataFrame:
    """`n` distinct people: name, birth date, address and postcode."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "person": i,
                "first_name": FORENAMES[i % len(FORENAMES)].title(),
                "last_name": SURNAMES[(i * 7) % len(SURNAMES)].title(),
                "date_of_birth": (dt.date(1950, 1, 1) + dt.timedelta(days=173 * i)).isoformat(),
                "address_line": f"{1 + i * 3 % 97} {STREETS[i % len(STREETS)].title()}",
                "city": ["Leeds", "York", "Hull"][i % 3],
                "postcode": f"LS{1 + i % 9} {i % 10}{'ABCDEFGHJK'[i % 10]}{'LMNPQRSTUW'[i // 10 % 10]}",
            }
        )
    return pd.DataFrame(rows)


def with_typos(records: pd.DataFrame) -> pd.DataFrame:
    """The same people as another clerk typed them: every second surname with two letters
    swapped, every third forename as a nickname or misspelt, every fourth birth date with the
    day and month swapped, every fifth at a new address in the same town (at most three of
    these in one record, and the birth date or the address then kept)."""
    out = records.copy().reset_index(drop=True)
    nick = {"james": "Jim", "oliver": "Olly", "harry": "Harry", "jack": "Jack"}
    for i in out.index:
        if i % 2 == 0:
            s = out.at[i, "last_name"]
            out.at[i, "last_name"] = s[0] + s[2] + s[1] + s[3:]
        if i % 3 == 0:
            f = out.at[i, "first_name"]
            out.at[i, "first_name"] = nick.get(f.lower(), f[:-1] + f[-1] * 2)
        if i % 4 == 1:
            y, m, d = out.at[i, "date_of_birth"].split("-")
            if int(d) <= 12:
                out.at[i, "date_of_birth"] = f"{y}-{d}-{m}"
        if i % 5 == 3:
            out.at[i, "address_line"] = f"{200 + i} Elm Grove"
            out.at[i, "postcode"] = f"YO{1 + i % 9} {i % 10}ZZ"
    return out


def land(landing, source: str, records: pd.DataFrame, ids: list[str]) -> None:
    customers = records.drop(columns=["person"]).assign(
        source_customer_id=ids, updated_at="2024-01-01T09:00:00"
    )
    write(landing / source / "customers" / "customers.csv", customers)
    sales = purchases(len(ids), seed=len(ids)).assign(
        source_customer_id=lambda d: (
            d.source_customer_id.str[1:].astype(int).map(dict(enumerate(ids)))
        ),
        transaction_id=lambda d: source + "-" + d.transaction_id,
    )
    write(landing / source / "transactions" / "transactions.csv", sales)


def run(tmp_path, settings_for):
    report = run_nightly(settings_for(tmp_path / "landing", HISTORY_DAY1))
    assert report.ok, report.explanation()
    con = duckdb.connect(str(tmp_path / "warehouse" / "cif.duckdb"), read_only=True)
    mapped = con.execute(
        "select source_system, source_customer_id, customer_key from core.customer_identity_map"
    ).df()
    customers = con.execute("select count(*) from marts.customer_360").fetchall()[0][0]
    revenue = con.execute("select sum(amount) from core.fct_transactions").fetchall()[0][0]
    con.close()
    return mapped, customers, revenue


def landed_revenue(landing) -> float:
    files = landing.glob("*/transactions/*.csv")
    return round(sum(pd.read_csv(f).amount.sum() for f in files), 2)


def test_one_system_with_duplicates_inside_it(tmp_path, settings_for, dbt_manifest):
    crowd = people(60)
    twice = with_typos(crowd.iloc[::4])  # 15 people registered a second time
    records = pd.concat([crowd, twice], ignore_index=True)
    ids = [f"CRM-{i}" for i in range(len(records))]
    land(tmp_path / "landing", "crm", records, ids)
    mapped, customers, revenue = run(tmp_path, settings_for)
    person = dict(zip(ids, records.person, strict=True))
    mapped["person"] = mapped.source_customer_id.map(person)
    assert len(mapped) == 75
    assert mapped.customer_key.nunique() == customers == 60
    assert (mapped.groupby("person").customer_key.nunique() == 1).all()  # every duplicate found
    assert float(revenue) == pytest.approx(landed_revenue(tmp_path / "landing"))


def test_two_systems_with_no_shared_identifier(tmp_path, settings_for, dbt_manifest):
    crowd = people(80)
    shop = crowd.iloc[:70].assign(email=[f"buyer{i}@shop.example" for i in range(70)])
    loyalty = with_typos(crowd.iloc[20:]).assign(phone=[f"+4479{i:08d}" for i in range(60)])
    land(tmp_path / "landing", "shop", shop, [f"S{i}" for i in range(70)])
    land(tmp_path / "landing", "loyalty", loyalty, [f"L{i}" for i in range(60)])
    mapped, customers, revenue = run(tmp_path, settings_for)
    person = {f"S{i}": p for i, p in enumerate(shop.person)}
    person |= {f"L{i}": p for i, p in enumerate(loyalty.person)}
    mapped["person"] = mapped.source_customer_id.map(person)
    assert len(mapped) == 130
    assert mapped.customer_key.nunique() == customers == 80  # 50 people in both systems
    assert (mapped.groupby("person").customer_key.nunique() == 1).all()
    assert (mapped.groupby("customer_key").person.nunique() == 1).all()
    assert float(revenue) == pytest.approx(landed_revenue(tmp_path / "landing"))
