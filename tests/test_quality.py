import duckdb
import great_expectations as gx
import pandas as pd

from quality.gx_bridge import columns_read, validate_frame, validate_table
from quality.reconciliation import reconcile


def test_gx_suite_reports_table_check_rows_and_examples():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.t as select * from (values (1, 'a'), (2, 'b'), (2, 'zz'), (null, 'a')) v(k, s)"
    )
    outcome = validate_table(
        con,
        "marts",
        "t",
        "demo",
        [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="k"),
            gx.expectations.ExpectColumnValuesToBeUnique(column="k"),
            gx.expectations.ExpectColumnValuesToBeInSet(column="s", value_set=["a", "b"]),
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=1),
        ],
    )
    assert not outcome.success and outcome.rows == 4 and outcome.evaluated == 4
    text = outcome.describe()
    assert text.splitlines()[0] == "marts.t: 3 of 4 expectations failed"
    assert "column s: column values to be in set (1 rows fail, e.g. ['zz'])" in text
    assert "column k: column values to be unique (2 rows fail" in text


def test_reconciliation_finds_batches_whose_rows_went_missing(con, tmp_path):
    from ingest.loader import load_landing

    path = tmp_path / "landing" / "shop" / "transactions" / "t.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "transaction_id,source_customer_id,occurred_at,amount\nt1,c,2024-01-01,1\nt2,c,2024-01-01,2\n"
    )
    load_landing(con, tmp_path / "landing")
    assert reconcile(con).ok
    con.execute("delete from raw.canonical__transactions where transaction_id = 't2'")
    result = reconcile(con)
    assert not result.ok and "rows_loaded 2 but 1 rows in raw" in result.mismatches[0].detail


def test_a_suite_reads_only_the_columns_it_names_unless_it_looks_at_the_whole_table():
    e = gx.expectations
    suite = [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectColumnValuesToNotBeNull(column="k"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["s", "k"]),
        e.ExpectColumnPairValuesToBeEqual(column_A="a", column_B="s"),
    ]
    assert columns_read(suite) == ["k", "s", "a"]
    assert columns_read([e.ExpectTableRowCountToBeBetween(min_value=1)]) is None
    assert columns_read([*suite, e.ExpectTableColumnsToMatchSet(column_set=["k"])]) is None


def test_a_column_the_table_lacks_fails_its_expectation_not_the_read():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.t as select 1 as k, 'wide' as other")
    e = gx.expectations
    outcome = validate_table(
        con,
        "marts",
        "t",
        "demo",
        [
            e.ExpectColumnValuesToNotBeNull(column="k"),
            e.ExpectColumnValuesToNotBeNull(column="gone"),
        ],
    )
    assert outcome.rows == 1 and outcome.evaluated == 2
    assert [f.column for f in outcome.failures] == ["gone"]


def test_text_read_as_arrow_fails_and_reports_as_python_strings_do():
    """1,000 rows with three segments, a bad one, a missing one and a repeated pair: the
    table's text is read as Arrow strings; the failures, counts and examples are those of the
    same rows as Python strings (DuckDB's df())."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.t as select i as k, case when i = 7 then 'bogus' "
        "when i = 8 then null else ['gold', 'silver', 'bronze'][i % 3 + 1] end as segment, "
        "'id-' || (case when i = 10 then 13 else i end) as source_id from range(1000) r(i)"
    )
    e = gx.expectations

    def suite():
        return [
            e.ExpectColumnValuesToBeInSet(column="segment", value_set=["gold", "silver", "bronze"]),
            e.ExpectColumnDistinctValuesToEqualSet(
                column="segment", value_set=["gold", "silver", "bronze"]
            ),
            e.ExpectColumnValuesToNotBeNull(column="segment"),
            e.ExpectColumnValueLengthsToBeBetween(column="segment", min_value=4, max_value=6),
            e.ExpectCompoundColumnsToBeUnique(column_list=["segment", "source_id"]),
            e.ExpectColumnValuesToBeUnique(column="source_id"),
        ]

    outcome = validate_table(con, "marts", "t", "demo", suite())
    as_python = validate_frame(con.execute("select * from marts.t").df(), "marts.t", "d", suite())
    failed = {f.expectation: f for f in outcome.failures}
    assert outcome.rows == 1000 and outcome.evaluated == 6
    assert sorted(failed) == [
        "expect_column_distinct_values_to_equal_set",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",  # rows 10 and 13: silver, id-13
    ]
    assert failed["expect_column_values_to_be_in_set"].unexpected_count == 1
    assert failed["expect_column_values_to_be_in_set"].examples == ["bogus"]
    assert failed["expect_column_values_to_not_be_null"].unexpected_count == 1
    assert failed["expect_column_distinct_values_to_equal_set"].examples == ["bogus"]
    assert failed["expect_column_values_to_be_unique"].unexpected_count == 2
    assert sorted(failed["expect_column_values_to_be_unique"].examples) == ["id-13", "id-13"]
    assert failed["expect_compound_columns_to_be_unique"].unexpected_count == 2
    assert outcome.failures == as_python.failures


def test_validation_does_not_hash_the_frame_for_a_fingerprint_nobody_reads():
    """GX's batch fingerprint hashed every row twice per validation (7 of 9.6 s at 3M rows)."""
    from great_expectations.execution_engine import pandas_execution_engine

    validate_frame(
        pd.DataFrame({"k": [1]}),
        "t",
        "demo",
        [gx.expectations.ExpectColumnValuesToNotBeNull(column="k")],
    )
    assert pandas_execution_engine.HASH_THRESHOLD == 0
