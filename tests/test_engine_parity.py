"""The same warehouse on Spark (dbt-spark, a local session) as on DuckDB: the same landing files
give the same marts, row for row in counts and in the key figures (issue 19).

Both builds go through orchestration/engines.py: the same ingest, dbt models, dbt data tests and
Python steps, only the engine differs. The Spark marts are read from the Parquet files Spark wrote."""

import importlib.util
import os
import shutil

import duckdb
import pytest

from ingest.spark import table_folder
from orchestration.assets import MART_KEYS
from orchestration.engines import BuildResult, build_warehouse
from orchestration.settings import CifSettings
from tests.helpers import DEMO_END

pytestmark = pytest.mark.slow(seconds=170)
MARTS = [key.path[-1] for key in MART_KEYS]


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: the Spark engine is the extra `spark` (`make spark`)"
    if shutil.which("java") is None:
        return "the Spark engine needs a Java runtime (java on PATH)"
    return None


# `make test` (CI) sets CIF_SPARK_TESTS=required: there a missing engine fails the run rather
# than skipping this file unseen; a bare `pytest` without the extra skips it and says why.
if missing := _spark_missing():
    if os.environ.get("CIF_SPARK_TESTS") == "required":
        raise RuntimeError(missing)
    pytest.skip(missing, allow_module_level=True)


@pytest.fixture(scope="module")
def builds(tmp_path_factory, demo_landing, dbt_manifest) -> dict[str, BuildResult]:
    root = tmp_path_factory.mktemp("engines")
    shutil.copytree(demo_landing, root / "landing")
    results = {}
    for engine in ("duckdb", "spark"):
        warehouse = root / engine / "cif.duckdb"
        settings = CifSettings.load(
            {}, landing=root / "landing", warehouse=warehouse, as_of=DEMO_END, engine=engine
        )
        results[engine] = build_warehouse(settings)
    return results


@pytest.fixture(scope="module")
def marts(builds):
    """A DuckDB connection with both builds' marts: duckdb.<mart> and spark.<mart>."""
    con = duckdb.connect()
    con.execute(f"attach '{builds['duckdb'].home}' as built (read_only)")
    con.execute("create schema duckdb")
    con.execute("create schema spark")
    home = builds["spark"].home
    for mart in MARTS:
        con.execute(f"create view duckdb.{mart} as select * from built.marts.{mart}")
        files = table_folder(home, "marts", mart) / "*.parquet"
        con.execute(f"create view spark.{mart} as select * from read_parquet('{files}')")
    yield con
    con.close()


def both(con, sql: str) -> tuple[list, list]:
    """The result of `sql` (naming `{engine}.<mart>`) on each engine's marts, sorted."""
    return tuple(sorted(con.execute(sql.format(engine=e)).fetchall()) for e in ("duckdb", "spark"))


def test_every_mart_has_the_same_rows_and_columns(marts):
    for mart in MARTS:
        duck, spark = both(marts, f"select count(*) from {{engine}}.{mart}")
        assert duck == spark and duck[0][0] > 0, mart
        columns = [
            [c[0] for c in marts.execute(f"describe {e}.{mart}").fetchall()]
            for e in ("duckdb", "spark")
        ]
        assert columns[0] == columns[1], mart


def test_customers_and_their_lifetime_value_agree(marts):
    duck, spark = both(
        marts,
        "select count(*), count(distinct customer_key), round(sum(clv_net_36m), 2), "
        "round(sum(lifetime_spend), 2), count(*) filter (where is_key_account) "
        "from {engine}.customer_360",
    )
    assert duck == spark
    assert duck[0][0] >= 300 and duck[0][2] > 0


def test_segment_sizes_agree(marts):
    duck, spark = both(
        marts, "select scheme, segment, count(*) from {engine}.customer_segments group by all"
    )
    assert duck == spark and len(duck) > 10


def test_key_accounts_agree(marts):
    duck, spark = both(
        marts,
        "select customer_key, key_criteria, round(clv_net_36m, 2), revenue_365d "
        "from {engine}.key_accounts",
    )
    assert duck == spark and len(duck) > 0


def test_kpi_totals_agree(marts):
    duck, spark = both(
        marts,
        "select count(*), sum(customers), sum(active_customers), sum(new_customers), "
        "sum(lapsed_customers), sum(transaction_count), sum(revenue), sum(interactions), "
        "sum(complaints), round(sum(avg_clv_net_36m), 2) from {engine}.kpi_daily",
    )
    assert duck == spark and duck[0][6] > 0


def test_the_dbt_data_tests_pass_on_both_engines(builds):
    """Each layer is a `dbt build` on either engine: a failing data test fails the build, so
    equal counts mean every test ran and passed on Spark too."""
    duck, spark = builds["duckdb"].tests_passed, builds["spark"].tests_passed
    assert duck == spark and duck >= 100, (duck, spark)
