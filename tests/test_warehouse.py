import datetime as dt

import duckdb
import pandas as pd
import pytest

from ingest.warehouse import connection, drop_derived_relations, table_row_counts
from models.scoring.store import ensure_scores_schema, write_scores
from orchestration.warehouse import WarehouseBusyError, WorkingCopy, WriterLock, clean_stale_work


def test_a_second_writer_is_refused_at_once_with_a_clear_message(tmp_path):
    wh = tmp_path / "cif.duckdb"
    with (
        WriterLock(wh, "run-1"),
        pytest.raises(WarehouseBusyError, match=r"being written by another run \(run run-1"),
    ):
        WriterLock(wh, "run-2").acquire()
    WriterLock(wh, "run-3").acquire().release()  # free again once released


def test_working_copy_publishes_atomically_and_a_discarded_run_changes_nothing(tmp_path):
    wh = tmp_path / "cif.duckdb"
    with connection(wh) as con:
        con.execute("create table t as select 1 as v")
    failed = WorkingCopy(wh, "dead-run")
    with connection(failed.begin()) as con:
        con.execute("insert into t values (2)")
    failed.discard()  # as if the run had crashed
    with connection(wh, read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone()[0] == 1

    good = WorkingCopy(wh, "good-run")
    with connection(good.begin()) as con:
        con.execute("insert into t values (3)")
    good.publish()
    with connection(wh, read_only=True) as con:
        assert sorted(r[0] for r in con.execute("select v from t").fetchall()) == [1, 3]
    assert not good.folder.exists()


def test_publish_refuses_when_the_warehouse_changed_meanwhile(tmp_path):
    wh = tmp_path / "cif.duckdb"
    with connection(wh) as con:
        con.execute("create table t as select 1 as v")
    work = WorkingCopy(wh, "r1")
    work.begin()
    with connection(wh) as con:
        con.execute("insert into t values (9)")
    with pytest.raises(WarehouseBusyError, match="changed while run r1"):
        work.publish()


def test_stale_working_copies_are_cleaned(tmp_path):
    wh = tmp_path / "cif.duckdb"
    WorkingCopy(wh, "old").begin()
    WorkingCopy(wh, "current").begin()
    removed = clean_stale_work(wh, keep="current")
    assert [p.name for p in removed] == ["old"]
    assert WorkingCopy(wh, "current").path.parent.exists()


def test_a_full_rebuild_drops_what_dbt_derives_and_keeps_the_rest(tmp_path):
    with connection(tmp_path / "cif.duckdb") as con:
        for table in (
            "raw.branch__customers",
            "core.customer_identity_map",
            "core.dim_customer",
            "marts.customer_360",
            "frontline.customer_search",
            "scores.customer_scores",
        ):
            schema = table.split(".")[0]
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {table} as select 1 as v")
        con.execute("create view marts.v as select * from marts.customer_360")
        dropped = drop_derived_relations(con, keep=["core.customer_identity_map"])
        left = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables order by 1"
        ).fetchall()
    assert sorted(dropped) == [
        "core.dim_customer",
        "frontline.customer_search",
        "marts.customer_360",
        "marts.v",
    ]
    assert [t for (t,) in left] == [
        "core.customer_identity_map",
        "raw.branch__customers",
        "scores.customer_scores",
    ]


def test_row_counts_are_exact_after_an_incremental_delete(tmp_path):
    """DuckDB's estimated_size keeps counting deleted rows; the run's row counts must not."""
    with connection(tmp_path / "cif.duckdb") as con:
        con.execute('create schema "odd schema"')
        con.execute('create table "odd schema"."facts" as select range as v from range(200000)')
        con.execute("create table main.small as select 1 as v")
        con.execute("checkpoint")
        con.execute('delete from "odd schema"."facts" where v % 4 = 0')
        con.execute('insert into "odd schema"."facts" select range from range(10)')
        assert table_row_counts(con) == {"odd schema.facts": 150_010, "main.small": 1}


def test_scores_made_with_a_primary_key_keep_their_rows_without_it(tmp_path):
    """Warehouses of earlier versions keyed scores.customer_scores; ensuring the schema rebuilds
    it unkeyed with every row and column kept, and a night's scores must still be one per
    customer (write_scores refuses repeats, where the key used to)."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema scores")
        con.execute(
            "create table scores.customer_scores (customer_key bigint not null, "
            "as_of_date date not null, run_id varchar not null, p_alive double, "
            "primary key (customer_key, as_of_date))"
        )
        con.execute(
            "insert into scores.customer_scores select range, date '2025-01-31', 'r1', range / 10 "
            "from range(5)"
        )
        ensure_scores_schema(con)
        keys = "select count(*) from duckdb_constraints() where constraint_type = 'PRIMARY KEY'"
        assert con.execute(keys).fetchone() == (0,)
        assert con.execute(
            "select count(*), sum(customer_key), sum(p_alive) from scores.customer_scores"
        ).fetchone() == (5, 10, pytest.approx(1.0))
        columns = {c[0] for c in con.execute("describe scores.customer_scores").fetchall()}
        assert {"clv_gross_36m_p05", "purchase_model"} <= columns
        repeated = pd.DataFrame(
            {"customer_key": [1, 2, 2], "as_of_date": [dt.date(2025, 2, 28)] * 3}
        )
        with pytest.raises(ValueError, match=r"repeat customers \[2\]"):
            write_scores(con, dt.date(2025, 2, 28), "r2", repeated, pd.DataFrame())
        assert con.execute("select count(*) from scores.customer_scores").fetchone() == (5,)
