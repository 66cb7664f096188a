"""Two shapes of customer data that share no identifier the demo relies on, through a whole
nightly run (the job `cif run` starts) on hand-written canonical-layout files:

- one system with duplicates inside it (a CRM that registered some people twice, with typos, a
  nickname, a birth date typed wrongly, a new address);
- two systems with no shared identifier (a shop and a loyalty scheme: no national id, e-mail,
  phone or customer number in common), linked on names, birth dates and addresses only.

Each person is known to the test, so the customer counts are exact. The two shapes land side
by side (different people) and share one run: a whole run costs most of a minute."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from tests.helpers import HISTORY_DAY1, nightly_in_cif_layout, purchases, write

pytestmark = pytest.mark.slow(seconds=50)

FORENAMES = ["olivia", "james", "amelia", "oliver", "isla", "george", "ava", "noah", "mia"]
FORENAMES += ["arthur", "grace", "leo", "freya", "oscar", "lily", "harry", "emily", "jack"]
SURNAMES = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies"]
SURNAMES += ["patel", "wright", "robinson", "thompson", "evans", "walker", "white", "roberts"]
STREETS = ["oak street", "mill lane", "church road", "station road", "high street"]


def people(n: int, first: int = 0) -> pd.DataFrame:
    """`n` distinct people (numbered from `first`): name, birth date, address and postcode."""
    rows = []
    for i in range(first, first + n):
        rows.append(
            {
                "person": i,
                "first_name": FORENAMES[i % len(FORENAMES)].title(),
                "last_name": (SURNAMES[(i * 7) % len(SURNAMES)] + ("son" if first else "")).title(),
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


@pytest.fixture(scope="module")
def resolved(tmp_path_factory, dbt_manifest):
    """One nightly run over both shapes: a CRM with duplicates (60 people, 15 of them twice),
    and a shop (70 people) beside a loyalty scheme (60, 50 of them shop customers too)."""
    root = tmp_path_factory.mktemp("shapes")
    crowd = people(60)
    crm = pd.concat([crowd, with_typos(crowd.iloc[::4])], ignore_index=True)
    others = people(80, first=100)
    shop = others.iloc[:70].assign(email=[f"buyer{i}@shop.example" for i in range(70)])
    loyalty = with_typos(others.iloc[20:]).assign(phone=[f"+4479{i:08d}" for i in range(60)])
    sources = {
        "crm": (crm, [f"CRM-{i}" for i in range(len(crm))]),
        "shop": (shop, [f"S{i}" for i in range(70)]),
        "loyalty": (loyalty, [f"L{i}" for i in range(60)]),
    }
    for source, (records, ids) in sources.items():
        land(root / "landing", source, records, ids)
    settings = nightly_in_cif_layout(root, HISTORY_DAY1)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        mapped = con.execute(
            "select m.source_system, m.source_customer_id, m.customer_key, "
            "c.customer_key is not null as in_360 from core.customer_identity_map m "
            "left join marts.customer_360 c using (customer_key)"
        ).df()
        revenue = con.execute(
            "select source_system, sum(amount) from core.fct_transactions group by all"
        ).fetchall()
    person = {
        (source, i): p
        for source, (records, ids) in sources.items()
        for i, p in zip(ids, records.person, strict=True)
    }
    keys = zip(mapped.source_system, mapped.source_customer_id, strict=True)
    mapped["person"] = [person[k] for k in keys]
    return root, mapped, dict(revenue)


def landed_revenue(landing, source: str) -> float:
    files = (landing / source / "transactions").glob("*.csv")
    return round(sum(pd.read_csv(f).amount.sum() for f in files), 2)


def test_one_system_with_duplicates_inside_it(resolved):
    root, mapped, revenue = resolved
    crm = mapped[mapped.source_system == "crm"]
    assert len(crm) == 75
    assert crm.customer_key.nunique() == 60 and crm.in_360.all()
    assert (crm.groupby("person").customer_key.nunique() == 1).all()  # every duplicate found
    assert (crm.groupby("customer_key").person.nunique() == 1).all()  # and nobody else
    assert float(revenue["crm"]) == pytest.approx(landed_revenue(root / "landing", "crm"))


def test_two_systems_with_no_shared_identifier(resolved):
    root, mapped, revenue = resolved
    both = mapped[mapped.source_system.isin(["shop", "loyalty"])]
    assert len(both) == 130
    assert both.customer_key.nunique() == 80 and both.in_360.all()  # 50 people in both
    assert (both.groupby("person").customer_key.nunique() == 1).all()
    assert (both.groupby("customer_key").person.nunique() == 1).all()
    assert not set(both.customer_key) & set(mapped.customer_key[mapped.source_system == "crm"])
    for source in ("shop", "loyalty"):
        assert float(revenue[source]) == pytest.approx(landed_revenue(root / "landing", source))
