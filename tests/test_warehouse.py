import datetime as dt
import os

import duckdb
import pandas as pd
import pytest

from ingest.warehouse import (
    connection,
    drop_derived_relations,
    full_rebuild_reason,
    table_row_counts,
    transaction,
    write_build_state,
)
from models.scoring.store import ensure_scores_schema, write_scores
from orchestration.warehouse import (
    WarehouseBusyError,
    WorkingCopy,
    WriterLock,
    _copy_changed_span,
    clean_stale_work,
    copy_changed_blocks,
)


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


@pytest.mark.parametrize("readers, read_blocks", [(1, 1), (2, 2), (4, 16)])
@pytest.mark.parametrize("target_size", [0, 10, 4096 * 3, 4096 * 3 + 7, 4096 * 9])
def test_a_copy_brought_up_to_date_equals_the_source_and_writes_only_changed_blocks(
    tmp_path, target_size, readers, read_blocks
):
    source = bytes(i * 7 % 251 for i in range(4096 * 5 + 123))  # 5 whole blocks and a tail
    target = bytearray(source[:target_size].ljust(target_size, b"x"))
    if target_size > 4096 * 2:
        target[4096 * 2 + 5] ^= 0xFF  # one changed byte in the third block
    (tmp_path / "src").write_bytes(source)
    (tmp_path / "dst").write_bytes(bytes(target))
    written = copy_changed_blocks(
        tmp_path / "src", tmp_path / "dst", block=4096, readers=readers, read_blocks=read_blocks
    )
    assert (tmp_path / "dst").read_bytes() == source
    blocks = [source[i : i + 4096] for i in range(0, len(source), 4096)]
    starts = range(0, len(source), 4096)
    old = [bytes(target[i : i + len(b)]) for i, b in zip(starts, blocks, strict=True)]
    assert written == sum(len(b) for b, o in zip(blocks, old, strict=True) if b != o)
    if target_size == 4096 * 9:  # longer, and equal but for the third block: it alone written
        assert written == 4096


def _warehouse(tmp_path, rows: str = "select 1 as v"):
    """A published warehouse with one table `t` of `rows`."""
    wh = tmp_path / "cif.duckdb"
    with connection(wh) as con:
        con.execute(f"create table t as {rows}")
    return wh


def _rows(wh) -> list[int]:
    with connection(wh, read_only=True) as con:
        return sorted(r[0] for r in con.execute("select v from t").fetchall())


def test_a_run_starts_from_the_previous_version_and_publishes_the_same_result(tmp_path):
    wh = _warehouse(tmp_path, "select range as v from range(50000)")
    said: list[str] = []
    first = WorkingCopy(wh, "night-1")
    with connection(first.begin(on_copy=said.append)) as con:
        con.execute("delete from t where v % 3 = 0")
    first.publish()
    assert first.previous.exists() and not first.previous.samefile(wh)  # the version replaced

    second = WorkingCopy(wh, "night-2")
    with connection(second.begin(on_copy=said.append)) as con:  # from the previous version
        assert con.execute("select count(*), sum(v) from t").fetchone() == (
            33333,
            sum(v for v in range(50000) if v % 3),
        )
        con.execute("insert into t values (-1)")
    assert not second.previous.exists()  # taken for the copy
    assert "whole" in said[0] and "no previous version kept" in said[0]
    assert "rewritten from the previous version" in said[1]
    assert -1 not in _rows(wh)
    second.publish()
    assert _rows(wh)[0] == -1 and len(_rows(wh)) == 33334


def test_a_publish_stopped_between_its_renames_never_lets_a_run_write_the_published_file(tmp_path):
    wh = _warehouse(tmp_path)
    work = WorkingCopy(wh, "r1")
    work.previous.parent.mkdir(parents=True)
    os.link(wh, work.previous)  # kept, but the working copy never replaced the published file
    with connection(work.begin()) as con:
        con.execute("insert into t values (2)")
    assert _rows(wh) == [1]
    assert not work.previous.exists()


def test_a_dead_runs_copy_becomes_the_previous_version(tmp_path):
    wh = _warehouse(tmp_path)
    with connection(WorkingCopy(wh, "dead").begin()) as con:
        con.execute("insert into t values (2)")
    clean_stale_work(wh, keep="next")
    next_run = WorkingCopy(wh, "next")
    assert next_run.previous.exists()
    assert _rows(next_run.begin()) == [1]  # its blocks that differed were rewritten


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


DAY = dt.date(2024, 7, 1)
INPUTS = {
    "vars": {"currency_rates": {"EUR": 1, "GBP": 0.86}, "source_trust_default_rank": 4},
    "models": {"fct_transactions": "a1", "dim_customer": "b2"},
    "macros": {"night_of_facts": "c3"},
}


def test_a_night_with_other_vars_or_models_rebuilds_in_full_and_names_them(tmp_path):
    with connection(tmp_path / "cif.duckdb") as con:
        write_build_state(con, DAY, inputs=INPUTS)
        assert full_rebuild_reason(con, DAY + dt.timedelta(days=1), inputs=INPUTS) is None
        rates = {**INPUTS["vars"], "currency_rates": {"EUR": 1, "GBP": 0.9}, "new_var": 1}
        models = {**INPUTS["models"], "dim_customer": "b3"}
        other = {**INPUTS, "vars": rates, "models": models}
        assert full_rebuild_reason(con, DAY, inputs=other) == (
            "models changed: dim_customer; vars changed: currency_rates, new_var"
        )
        # a run before the check (--as-of earlier) says that first
        assert full_rebuild_reason(con, DAY - dt.timedelta(days=1), inputs=other).startswith(
            "--as-of"
        )


def test_a_build_state_of_an_older_version_without_inputs_rebuilds_once(tmp_path):
    with connection(tmp_path / "cif.duckdb") as con:
        con.execute("create schema meta")
        con.execute(  # the build state as earlier versions wrote it
            "create table meta.build_state (as_of date not null, as_known_at timestamp not null,"
            " full_rebuild_reason varchar, built_at timestamp not null)"
        )
        con.execute("insert into meta.build_state values (?, '9999-12-31', null, now())", [DAY])
        reason = full_rebuild_reason(con, DAY, inputs=INPUTS)
        assert (
            reason
            == "the last build recorded no vars or model versions (an older build): rebuilt once"
        )
        write_build_state(con, DAY, inputs=INPUTS, full_rebuild_reason=reason)  # that rebuild
        assert full_rebuild_reason(con, DAY, inputs=INPUTS) is None


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


def test_an_empty_source_empties_the_copy(tmp_path):
    (tmp_path / "src").write_bytes(b"")
    (tmp_path / "dst").write_bytes(b"left over")
    assert copy_changed_blocks(tmp_path / "src", tmp_path / "dst") == 0
    assert (tmp_path / "dst").read_bytes() == b""


def test_a_source_that_shrinks_while_copied_stops_the_copy(tmp_path):
    """The spans are measured first; a file that ends before its span would otherwise leave
    the rest of the span unread and unwritten."""
    (tmp_path / "src").write_bytes(b"a" * 4096)
    (tmp_path / "dst").write_bytes(b"b" * 8192)
    with pytest.raises(OSError, match="short read"):
        _copy_changed_span(tmp_path / "src", tmp_path / "dst", 0, 8192, 4096, 8192)


def test_a_transaction_commits_its_block_or_rolls_all_of_it_back(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table t (n integer)")
        with transaction(con):
            con.execute("insert into t values (1)")
        with pytest.raises(duckdb.Error), transaction(con):
            con.execute("insert into t values (2)")
            con.execute("insert into missing values (3)")
        assert con.execute("select list(n) from t").fetchone() == ([1],)
