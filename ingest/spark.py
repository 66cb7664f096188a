"""The warehouse on Apache Spark (CIF_ENGINE=spark): the session, and tables shared as Parquet.

DuckDB stays the ledger of what landed: ingest loads files into the DuckDB warehouse exactly as
on the default engine (each file once, quarantine with reasons, counts that reconcile), then
the raw layer (raw, meta, quarantine) is written as Parquet, one folder per table, and Spark
reads those folders as its source tables. The Python steps (identity, scoring) keep their state
in the same DuckDB file: their inputs come back from Spark as Parquet, their outputs go to Spark
as Parquet. Parquet carries the types across (decimal(18,4), timestamps, dates) unchanged.

pyspark is imported only here and only when the Spark engine is used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ingest.sql import quote_ident, quote_literal

# What ingest writes and the models read as sources: shared with Spark after every load.
SHARED_SCHEMAS = ("raw", "meta", "quarantine")
SPARK_HOME = "spark"  # beside the warehouse file: Spark's tables, metastore and shared Parquet


def spark_home(warehouse: Path) -> Path:
    return warehouse.parent / SPARK_HOME


def spark_session(home: Path, cores: int = 2) -> Any:
    """A local Spark session whose tables and metastore live under `home` (dbt-spark's
    `method: session` then uses this session). On a cluster, dbt-spark's thrift, odbc or
    Spark Connect methods take its place (README: Spark engine)."""
    from pyspark.sql import SparkSession

    home.mkdir(parents=True, exist_ok=True)
    conf = {
        "spark.sql.warehouse.dir": str(home / "tables"),
        # The catalog lives in the session: every run registers the shared raw layer and dbt
        # rebuilds the rest, so no Hive metastore (Derby) is needed locally.
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.session.timeZone": "UTC",
        # dbt's `create table as` then writes Parquet (not Hive text files) without Delta.
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(2 * cores),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "2g",
        # Small tables: compiling whole-stage Java code costs more than it saves (and the
        # widest models exceed its 64 KB method limit, falling back after a long error).
        "spark.sql.codegen.wholeStage": "false",
    }
    builder = SparkSession.builder.master(f"local[{cores}]").appName("cif")
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("FATAL")
    return session


def table_folder(home: Path, schema: str, table: str) -> Path:
    """Where the local session keeps a table dbt built (Parquet files): for readers without
    Spark, such as a comparison with the DuckDB build."""
    return home / "tables" / f"{schema}.db" / table


def clear_built_tables(home: Path) -> None:
    """Remove the tables a previous local session built: the catalog lives in the session, so
    each build registers the shared raw layer again and dbt rebuilds everything from it."""
    shutil.rmtree(home / "tables", ignore_errors=True)


def _tables(con: duckdb.DuckDBPyConnection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    wanted = list(schemas)
    placeholders = ", ".join("?" for _ in wanted)
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in ({placeholders}) and table_type = 'BASE TABLE' order by all",
        wanted,
    ).fetchall()


def _spark_name(schema: str, table: str) -> str:
    return f"`{schema}`.`{table}`"


def duckdb_to_spark(
    con: duckdb.DuckDBPyConnection, spark: Any, tables: Iterable[str], folder: Path
) -> list[str]:
    """Copy DuckDB tables ("schema.table") to Spark tables of the same name: each is written
    as Parquet under `folder` and registered as an external Spark table over it."""
    copied = []
    for name in tables:
        schema, table = name.split(".")
        target = folder / schema / table
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        con.execute(
            f"copy (select * from {quote_ident(schema)}.{quote_ident(table)}) "
            f"to {quote_literal(str(target / 'data.parquet'))} (format parquet)"
        )
        spark.sql(f"create database if not exists `{schema}`")
        spark.sql(f"drop table if exists {_spark_name(schema, table)}")
        spark.sql(
            f"create table {_spark_name(schema, table)} using parquet "
            f"location {quote_literal(str(target))}"
        )
        copied.append(name)
    return copied


def share_raw_layer(con: duckdb.DuckDBPyConnection, spark: Any, home: Path) -> list[str]:
    """Everything ingest wrote (raw, meta, quarantine) as Spark source tables over Parquet."""
    names = [f"{schema}.{table}" for schema, table in _tables(con, SHARED_SCHEMAS)]
    return duckdb_to_spark(con, spark, names, home / "shared")


def spark_to_duckdb(
    spark: Any, con: duckdb.DuckDBPyConnection, tables: Iterable[str], folder: Path
) -> list[str]:
    """Copy Spark tables ("schema.table") into DuckDB tables of the same name, replacing them:
    the inputs of a Python step that keeps its state in DuckDB."""
    copied = []
    for name in tables:
        schema, table = name.split(".")
        target = folder / schema / table
        spark.table(_spark_name(schema, table)).write.mode("overwrite").parquet(str(target))
        con.execute(f"create schema if not exists {quote_ident(schema)}")
        con.execute(f"drop view if exists {quote_ident(schema)}.{quote_ident(table)}")
        con.execute(
            f"create or replace table {quote_ident(schema)}.{quote_ident(table)} as "
            f"select * from read_parquet({quote_literal(str(target / '*.parquet'))})"
        )
        copied.append(name)
    return copied
