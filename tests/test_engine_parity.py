"""The same warehouse on Spark (dbt-spark, a local session) as on DuckDB: the same landing files
give the same marts, row for row in counts and in the key figures (issue 19).

Both builds go through orchestration/engines.py: the same ingest, dbt models and Python steps,
only the engine differs. The Spark marts are read from the Parquet files Spark wrote."""

import shutil
from pathlib import Path

import duckdb
import pytest

from ingest.spark import spark_home, table_folder
from orchestration.assets import MART_KEYS
from orchestration.engines import build_warehouse
from orchestration.settings import CifSettings
from tests.helpers import DEMO_END

pytestmark = pytest.mark.slow
MARTS = [key.path[-1] for key in MART_KEYS]
pytest.importorskip(
    "pyspark", reason="the Spark engine is an extra: `make test-spark` installs it and runs this"
)
if shutil.which("java") is None:
    pytest.skip("the Spark engine needs a Java runtime (java on PATH)", allow_module_level=True)


@pytest.fixture(scope="module")
def builds(tmp_path_factory, demo_landing, dbt_manifest) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engines")
    shutil.copytree(demo_landing, root / "landing")
    warehouses = {}
    for engine in ("duckdb", "spark"):
        warehouse = root / engine / "cif.duckdb"
        settings = CifSettings.load(
            {}, landing=root / "landing", warehouse=warehouse, as_of=DEMO_END, engine=engine
        )
        build_warehouse(settings)
        warehouses[engine] = warehouse
    return warehouses


@pytest.fixture(scope="module")
def marts(builds):
    """A DuckDB connection with both builds' marts: duckdb.<mart> and spark.<mart>."""
    con = duckdb.connect()
    con.execute(f"attach '{builds['duckdb']}' as built (read_only)")
    con.execute("create schema duckdb")
    con.execute("create schema spark")
    home = spark_home(builds["spark"])
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
