"""Identity resolution on 20k generated customers, measured against the generator's truth.

Real parts only: the landing zone is loaded by the loader, the integration layer is built by
dbt, and identities are resolved on the DuckDB file. Thresholds sit a little below the figures
`bench/bench_identity.py --customers 20000` reaches (see the README), so a change that makes
matching worse fails here.
"""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from ingest.demo.generator import generate
from ingest.loader import load_landing
from models.identity import resolve_identities
from models.identity.households import load_holders
from models.identity.quality import evidence_ceiling, score_against_truth
from models.identity.records import load_records
from orchestration.dbt_project import build_layer
from tests.helpers import DEMO_END

pytestmark = pytest.mark.slow(seconds=60)
DAY_BEFORE = DEMO_END - dt.timedelta(days=1)


def identity_map(con) -> pd.DataFrame:
    return con.execute(
        "select source_system, source_customer_id, customer_key from core.customer_identity_map"
    ).df()


@pytest.fixture(scope="module")
def resolved(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("identity20k")
    generate(root / "landing", customers=20_000, start=dt.date(2023, 7, 1), end=DEMO_END, seed=7)
    warehouse = root / "cif.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_landing(con, root / "landing")
    build_layer(warehouse, DAY_BEFORE, "integrate", root / "target")
    with duckdb.connect(str(warehouse)) as con:
        first = resolve_identities(con)
        before = identity_map(con)
        households = con.execute("select * from core.customer_household").df()
    truth = pd.read_csv(root / "landing" / "_truth" / "customers.csv")
    return root, warehouse, first, before, households, truth


def test_person_and_household_matching_quality_at_20k(resolved):
    _, _, first, before, households, truth = resolved
    scores = score_against_truth(before, households, truth)
    person, household = scores["person"], scores["household"]
    assert person.precision >= 0.985 and person.recall >= 0.935, person
    assert person.f1 >= 0.96, person
    assert household.f1 >= 0.93, household
    true_people = truth.merge(before, on=["source_system", "source_customer_id"]).person_id
    assert first.customers <= 1.10 * true_people.nunique()


def test_matching_comes_close_to_what_the_data_allows(resolved):
    _, warehouse, first, before, households, truth = resolved
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ceiling = evidence_ceiling(load_records(con), truth, load_holders(con, per_record=True))
    scores = score_against_truth(before, households, truth)
    person, best = scores["person"], ceiling["person"]
    assert best.precision == 1.0 and best.recall < 1.0  # some records share nothing
    assert person.recall >= best.recall - 0.01, (person, best)
    assert first.customers <= 1.01 * best.predicted_groups, (first, best)
    household, best_household = scores["household"], ceiling["household"]
    assert best_household.precision == 1.0
    assert household.recall >= best_household.recall - 0.01, (household, best_household)


def test_the_same_data_again_keeps_every_key(resolved):
    _, warehouse, _, before, _, _ = resolved
    with duckdb.connect(str(warehouse)) as con:
        again = resolve_identities(con)
        after = identity_map(con)
    assert again.compared_records == 0 and again.merges == 0 and again.splits == 0
    pd.testing.assert_frame_equal(
        before.sort_values(list(before.columns)).reset_index(drop=True),
        after.sort_values(list(after.columns)).reset_index(drop=True),
    )


def test_a_day_of_new_data_leaves_at_least_999_in_1000_keys_unchanged(resolved):
    root, warehouse, _, before, _, _ = resolved
    build_layer(warehouse, DEMO_END, "integrate", root / "target")
    with duckdb.connect(str(warehouse)) as con:
        day = resolve_identities(con)
        after = identity_map(con)
        lookup = con.execute("select * from core.customer_key_lookup").df()
        changes = con.execute("select * from core.customer_key_changes").df()
    both = before.merge(after, on=["source_system", "source_customer_id"])
    assert len(both) == len(before)  # nobody is lost
    assert (both.customer_key_x == both.customer_key_y).mean() >= 0.999
    assert day.compared_records < 0.05 * day.records  # only new and changed records compared
    # every key issued the day before still resolves; a merged key to the key its records have now
    current = both.customer_key_x.map(lookup.set_index("customer_key").current_customer_key)
    assert current.notna().all()
    merged = both.customer_key_x.isin(set(changes.old_customer_key[changes.change_type == "merge"]))
    assert (current[merged] == both.customer_key_y[merged]).all()
    print(
        f"day of new data: {day}; keys changed {(both.customer_key_x != both.customer_key_y).sum()}"
    )
