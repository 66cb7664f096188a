import datetime as dt
from pathlib import Path

import pytest

from orchestration.settings import CifSettings


def test_defaults_are_the_contract_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = CifSettings.load(environ={})
    assert s.landing == tmp_path / "landing"
    assert s.warehouse == tmp_path / "warehouse" / "cif.duckdb"
    assert s.exports == tmp_path / "exports"
    assert s.as_of == dt.date.today()


def test_environment_overrides_defaults_and_flags_override_both(tmp_path):
    env = {"CIF_LANDING": str(tmp_path / "L"), "CIF_WAREHOUSE": str(tmp_path / "w.duckdb")}
    s = CifSettings.load(
        environ=env, warehouse=tmp_path / "flag.duckdb", exports=None, as_of="2024-03-01"
    )
    assert s.landing == tmp_path / "L"
    assert s.warehouse == tmp_path / "flag.duckdb"
    assert s.as_of == dt.date(2024, 3, 1)
    assert s.dagster_home == tmp_path / ".dagster"
    assert isinstance(s.exports, Path) and s.exports.is_absolute()


def test_the_schedule_and_sensors_are_on_unless_switched_off(dbt_manifest):
    import dagster as dg

    from orchestration.definitions import build_definitions

    for value, status in (("on", "RUNNING"), ("off", "STOPPED")):
        defs = build_definitions(CifSettings.load({"CIF_AUTOMATION": value}))
        schedule = defs.resolve_schedule_def("nightly_schedule")
        sensors = [
            defs.resolve_sensor_def(n)
            for n in ("landing_sensor", "nightly_failure_alert", "nightly_run_report")
        ]
        assert schedule.default_status == getattr(dg.DefaultScheduleStatus, status)
        assert {s.default_status for s in sensors} == {getattr(dg.DefaultSensorStatus, status)}
    with pytest.raises(ValueError, match="CIF_AUTOMATION must be on or off"):
        CifSettings.load({"CIF_AUTOMATION": "maybe"})


def test_the_engine_is_duckdb_unless_spark_is_chosen():
    assert CifSettings.load({}).engine == "duckdb"
    assert CifSettings.load({"CIF_ENGINE": "Spark"}).engine == "spark"
    assert CifSettings.load({"CIF_ENGINE": "spark"}, engine="duckdb").engine == "duckdb"
    with pytest.raises(ValueError, match="CIF_ENGINE"):
        CifSettings.load({"CIF_ENGINE": "postgres"})


def test_export_retention_is_read_from_the_environment_and_checked():
    from orchestration.resources import CifResource

    assert CifSettings.load({}).export_keep_days == 30
    assert CifSettings.load({"CIF_EXPORT_KEEP_DAYS": " 7 "}).export_keep_days == 7
    assert CifSettings.load({"CIF_EXPORT_KEEP_DAYS": "0"}).export_keep_days == 0
    resource = CifResource.from_settings(CifSettings.load({"CIF_EXPORT_KEEP_DAYS": "7"}))
    assert resource.export_keep_days == 7
    for wrong in ("-1", "a week", "1.5"):
        with pytest.raises(ValueError, match="CIF_EXPORT_KEEP_DAYS must be a whole number"):
            CifSettings.load({"CIF_EXPORT_KEEP_DAYS": wrong})


def test_the_run_s_dbt_vars_come_from_cif_dbt_vars_as_a_json_object():
    from orchestration.resources import CifResource

    assert CifSettings.load({}).run_vars == {}
    rates = '{"currency_rates": {"EUR": 1, "GBP": 0.9}}'
    settings = CifSettings.load({"CIF_DBT_VARS": rates})
    assert settings.run_vars == {"currency_rates": {"EUR": 1, "GBP": 0.9}}
    assert CifResource.from_settings(settings).run_vars == rates
    for wrong in ("currency_rates: 1", "[1, 2]", "{"):
        with pytest.raises(ValueError, match="CIF_DBT_VARS must be a JSON object"):
            CifSettings.load({"CIF_DBT_VARS": wrong})


@pytest.mark.parametrize(
    ("variable", "field", "default"),
    [
        ("CIF_SCORES_KEEP_DAYS", "scores_keep_days", 35),
        ("CIF_MODEL_RUNS_KEEP_DAYS", "model_runs_keep_days", 400),
        ("CIF_RUN_HISTORY_KEEP_DAYS", "run_history_keep_days", 90),
        ("CIF_AUDIT_KEEP_DAYS", "audit_keep_days", 400),
        ("CIF_QUARANTINE_KEEP_DAYS", "quarantine_keep_days", 400),
    ],
)
def test_every_retention_has_a_default_and_a_setting(variable, field, default):
    from orchestration.resources import CifResource

    assert getattr(CifSettings.load({}), field) == default
    assert getattr(CifSettings.load({variable: " 7 "}), field) == 7
    assert getattr(CifSettings.load({variable: "0"}), field) == 0  # for ever
    assert getattr(CifResource.from_settings(CifSettings.load({variable: "9"})), field) == 9
    with pytest.raises(ValueError, match=f"{variable} must be a whole number"):
        CifSettings.load({variable: "a month"})


def test_the_memory_limit_reaches_duckdb_in_the_python_steps_and_in_dbt(tmp_path, dbt_manifest):
    """CIF_MEMORY_LIMIT bounds the warehouse's DuckDB wherever the night uses it: the Python
    steps' connections (through the resource) and dbt's (through the profile's settings)."""
    from ingest.warehouse import connection
    from orchestration.dbt_project import dbt_args, invoke, parsed_manifest
    from orchestration.resources import CifResource

    settings = CifSettings.in_folder(tmp_path, dt.date(2025, 6, 30), memory_limit="512MB")
    assert CifSettings.load({"CIF_MEMORY_LIMIT": "512MB"}).memory_limit == "512MB"
    assert CifSettings.load({}).memory_limit == "20%"
    resource = CifResource.from_settings(settings)
    with connection(settings.warehouse, memory_limit=resource.memory_limit) as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "488.2 MiB"

    variables = {"warehouse_path": str(settings.warehouse), "memory_limit": resource.memory_limit}
    shown = invoke(
        dbt_args(
            ["show", "--inline", "select current_setting('memory_limit') as m"],
            tmp_path / "target",
            variables,
        ),
        manifest=parsed_manifest(settings.warehouse),
    )
    assert [row[0] for row in shown.result.results[0].agate_table.rows] == ["488.2 MiB"]

    with pytest.raises(ValueError, match="CIF_MEMORY_LIMIT must be a size"):
        CifSettings.load({"CIF_MEMORY_LIMIT": "lots"})


def test_the_memory_limit_reaches_the_export(tmp_path, dbt_manifest):
    """The export reads the whole warehouse: it is bounded like the night's other steps (a
    limit too small to write one mart fails, one large enough writes it)."""
    import duckdb

    from ingest.warehouse import connection
    from orchestration.exports import export_published

    warehouse = tmp_path / "cif.duckdb"
    with connection(warehouse) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.wide as "
            "select range as id, md5(cast(range as varchar)) as digest from range(300000)"
        )

    def export(limit: str):
        return export_published(
            warehouse, tmp_path / "exports", dt.date(2025, 6, 30), "t", memory_limit=limit
        )

    with pytest.raises(duckdb.OutOfMemoryException):
        export("1MB")
    assert export("256MB").tables == {"wide": 300000}
