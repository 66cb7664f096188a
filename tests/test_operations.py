"""Nightly operations: the schedule, the landing sensor, alerts and the quality report."""

import datetime as dt
import http.server
import json
import sys
import threading
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pytest

from orchestration.schedules import build_landing_sensor, build_nightly_schedule
from orchestration.settings import CifSettings
from quality.alerts import Alert, send_alert
from quality.report import RunFacts, render_report
from quality.report_data import WarehouseFacts
from quality.run_history import latest_publication, previous_row_counts, record_publication


@pytest.fixture
def settings(tmp_path):
    return CifSettings.load(
        environ={"CIF_NIGHTLY_CRON": "30 3 * * *", "CIF_TIMEZONE": "Europe/London"},
        landing=tmp_path / "landing",
        warehouse=tmp_path / "wh" / "cif.duckdb",
        exports=tmp_path / "exports",
    )


def test_the_schedule_runs_the_nightly_job_for_its_day(settings):
    schedule = build_nightly_schedule(settings)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 3 * * *", "Europe/London")
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2025, 3, 1, 3, 30))
    (request,) = schedule.evaluate_tick(context).run_requests
    config = request.run_config["resources"]["cif"]["config"]
    assert config["as_of"] == "2025-03-01" and config["warehouse"] == str(settings.warehouse)
    assert request.run_key == "nightly-2025-03-01"
    assert request.tags["cif/trigger"] == "schedule"


def test_the_sensor_starts_a_run_only_when_files_land(settings):
    sensor = build_landing_sensor(settings)
    context = dg.build_sensor_context()
    assert sensor.evaluate_tick(context).skip_message.startswith("no new files")
    first = settings.landing / "crm" / "customers" / "a.csv"
    first.parent.mkdir(parents=True)
    first.write_text("source_customer_id\nc1\n")
    result = sensor.evaluate_tick(dg.build_sensor_context(cursor=context.cursor))
    (request,) = result.run_requests
    assert request.run_config["resources"]["cif"]["config"]["landing"] == str(settings.landing)
    quiet = sensor.evaluate_tick(dg.build_sensor_context(cursor=result.cursor))
    assert quiet.run_requests == [] and "no new files" in quiet.skip_message
    (settings.landing / "crm" / "customers" / "b.csv").write_text("source_customer_id\nc2\n")
    (second,) = sensor.evaluate_tick(dg.build_sensor_context(cursor=result.cursor)).run_requests
    assert second.run_key != request.run_key


def test_the_sensors_first_evaluation_skips_files_the_published_warehouse_holds(settings, capfd):
    """`cif ui` started after `cif run`: the daemon's first tick has no cursor, and the files the
    run loaded are not new to it; a file landed since, or re-sent with new content, is."""
    from ingest.loader import load_landing

    folder = settings.landing / "crm" / "customers"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("source_customer_id\nc1\n")
    (folder / "b.csv").write_text("source_customer_id\nc2\n")
    settings.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        assert [r.status for r in load_landing(con, settings.landing)] == ["loaded", "loaded"]
    sensor = build_landing_sensor(settings)
    first = sensor.evaluate_tick(dg.build_sensor_context())
    assert first.run_requests == [] and "no new files" in first.skip_message
    (folder / "b.csv").write_text("source_customer_id\nc2\nc3\n")  # re-sent, corrected
    (folder / "c.csv").write_text("source_customer_id\nc4\n")
    capfd.readouterr()
    (request,) = sensor.evaluate_tick(dg.build_sensor_context()).run_requests
    assert request.tags["cif/trigger"] == "sensor"
    logged = capfd.readouterr().err
    assert "2 new landed file(s)" in logged and "a.csv" not in logged


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_alert_is_recorded_and_sent_to_the_command_and_the_webhook(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        got = tmp_path / "from-command.json"
        alert = Alert("run-1", "blocking_check_failed", "check x failed", ["check x: 3 rows fail"])
        delivery = send_alert(
            alert,
            tmp_path / "alerts.jsonl",
            command=f"{sys.executable} -c \"import sys; open('{got}', 'w').write(sys.stdin.read())\"",
            webhook=f"http://127.0.0.1:{server.server_port}/hook",
        )
    finally:
        server.shutdown()
    assert delivery.hooks == {"command": "ok", "webhook": "ok"}
    assert json.loads(got.read_text())["summary"] == "check x failed"
    assert _Receiver.received[-1]["run_id"] == "run-1"
    recorded = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert recorded[-1]["failures"] == ["check x: 3 rows fail"]


def test_a_failing_hook_is_reported_not_raised(tmp_path):
    delivery = send_alert(
        Alert("r", "run_failed", "boom"),
        tmp_path / "a.jsonl",
        command="exit 3",
        webhook="http://127.0.0.1:9/nothing-listens",
    )
    assert delivery.hooks["command"].startswith("exit 3")
    assert delivery.hooks["webhook"].startswith("failed")
    assert (tmp_path / "a.jsonl").read_text().count("\n") == 1


def test_the_run_report_puts_what_failed_first_with_severity_then_the_rest():
    checks = [
        {"asset": "raw/x", "name": "rows_reconcile", "passed": True, "blocking": True,
         "description": ""},
        {"asset": "scores/customer_scores", "name": "kpi_drift", "passed": False,
         "blocking": False, "description": "average CLV moved +80%"},
        {"asset": "marts/customer_360", "name": "gx_customer_360", "passed": False,
         "blocking": True, "description": "marts.customer_360: 1 of 7 expectations failed\n- "
         "column customer_key: column values to be unique (2 rows fail, e.g. [7, 7])"},
    ]  # fmt: skip
    run = RunFacts(
        run_id="r1",
        as_of="2025-01-01",
        ok=False,
        checks=checks,
        failed_steps={"dbt_marts": "dbt: model.cif.kpi_daily: division by zero"},
        by_source={"crm": {"files": 1, "rows_received": 5}},
        skipped_steps=["warehouse_published"],
    )
    facts = WarehouseFacts(
        path=Path("cif.duckdb"),
        row_counts={"marts.customer_360": 50, "core.new_table": 3},
        previous_counts=[("r0", "2024-12-31", {"marts.customer_360": 100, "core.gone": 7})],
    )
    page = render_report(run, facts)
    first = page[page.index("What failed first") : page.index("Rows per source")]
    # the failed step, then the blocking check, then the warning, each with its severity
    assert first.index("dbt_marts") < first.index("gx_customer_360") < first.index("kpi_drift")
    assert first.count("badge blocking") == 1 and first.count("badge warning") == 1
    assert "2 rows fail, e.g. [7, 7]" in first and "division by zero" in first
    assert "nothing of this run was published" in page and "1 not run" in page
    assert "<td>crm</td><td class='n'>1</td>" in page
    counts = page[page.index("Rows per table against previous runs") :]
    assert "as of 2024-12-31" in counts and "<span class='down'>-50.0%</span>" in counts
    assert ">new<" in counts and ">gone<" in counts
    assert "No KPI history" in page and "No model was fitted" in page
    assert "<script" not in page and "http" not in page  # one file, nothing fetched


def test_each_publication_keeps_its_row_counts_and_checks(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema marts; create table marts.t as select range as i from range(5)")
        record_publication(con, "run-1", dt.date(2025, 1, 1), [{"name": "a", "passed": True}])
        con.execute("insert into marts.t select range from range(3)")
        checks = [{"name": "a", "passed": True}, {"name": "b", "passed": False}]
        record_publication(con, "run-2", dt.date(2025, 1, 2), checks)
        record_publication(con, "run-2", dt.date(2025, 1, 2), checks)  # a retry adds nothing
        assert previous_row_counts(con, "run-2") == [("run-1", "2025-01-01", {"marts.t": 5})]
        (run_id, as_of, counts) = previous_row_counts(con, "run-0", runs=1)[0]
        assert (run_id, as_of, counts["marts.t"]) == ("run-2", "2025-01-02", 8)
        published = latest_publication(con)
        assert (published["run_id"], published["as_of"]) == ("run-2", dt.date(2025, 1, 2))
        assert published["checks"] == checks
        assert con.execute(
            "select checks_passed, checks_failed from meta.publications where run_id = 'run-2'"
        ).fetchall() == [(1, 1)]


def test_runs_left_started_by_a_killed_process_are_marked_failed(tmp_path):
    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.instance import dagster_instance
    from orchestration.runner import close_abandoned_runs

    settings = CifSettings(warehouse=tmp_path / "wh" / "cif.duckdb").resolved()
    instance = dagster_instance(settings)
    for run_id, trigger in (("killed", "cif run"), ("from-ui", "ui")):
        instance.add_run(
            DagsterRun(
                job_name="nightly",
                run_id=run_id,
                status=dg.DagsterRunStatus.STARTED,
                tags={"cif/trigger": trigger},
            )
        )
    assert close_abandoned_runs(instance) == ["killed"]
    assert instance.get_run_by_id("killed").status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("from-ui").status == dg.DagsterRunStatus.STARTED


def test_the_run_history_follows_the_warehouse_folder_and_an_edited_config_is_kept(tmp_path):
    import shutil

    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.instance import OneEngineEventLogStorage, dagster_instance

    def instance_in(folder: Path) -> dg.DagsterInstance:
        return dagster_instance(CifSettings(warehouse=folder / "wh" / "cif.duckdb").resolved())

    first = instance_in(tmp_path / "a")
    assert isinstance(first.event_log_storage, OneEngineEventLogStorage)
    first.add_run(DagsterRun(job_name="nightly", run_id="before-the-move"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = instance_in(tmp_path / "b")
    moved.add_run(DagsterRun(job_name="nightly", run_id="after-the-move"))
    assert [r.run_id for r in moved.get_runs()] == ["after-the-move", "before-the-move"]
    assert [r.run_id for r in instance_in(tmp_path / "a").get_runs()] == ["before-the-move"]

    edited = tmp_path / "b" / "wh" / ".dagster" / "dagster.yaml"
    edited.write_text("telemetry:\n  enabled: true\n")
    assert not isinstance(instance_in(tmp_path / "b").event_log_storage, OneEngineEventLogStorage)
    assert edited.read_text() == "telemetry:\n  enabled: true\n"


def test_the_run_history_keeps_its_connections_open_and_loses_no_event(tmp_path):
    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.instance import dagster_instance

    settings = CifSettings(warehouse=tmp_path / "wh" / "cif.duckdb").resolved()
    writer, reader = dagster_instance(settings), dagster_instance(settings)  # as `cif ui`

    def write(run_id: str, messages: list[str]) -> None:
        run = writer.add_run(DagsterRun(job_name="nightly", run_id=run_id))
        for message in messages:
            writer.report_engine_event(message, run)

    write("first", ["one", "two"])
    storage = writer.event_log_storage
    pool = storage._cached.engine(storage.conn_string_for_shard("first")).pool
    kept = pool.checkedin()
    writer.report_engine_event("three", writer.get_run_by_id("first"))
    assert pool.checkedin() == kept <= 2  # the connections stay open, used for every event
    assert [e.message for e in reader.all_logs("first")] == ["one", "two", "three"]
    # wiping deletes the run's file: a connection kept open to it would write into nothing
    writer.wipe()
    write("first", ["after the wipe"])
    fresh = dagster_instance(settings)
    assert [e.message for e in fresh.all_logs("first")] == ["after the wipe"]
