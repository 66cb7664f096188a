"""Nightly operations: the schedule, the landing sensor, alerts and the quality report."""

import datetime as dt
import http.server
import json
import sys
import threading
from typing import ClassVar

import dagster as dg
import pytest

from orchestration.schedules import build_landing_sensor, build_nightly_schedule
from orchestration.settings import CifSettings
from quality.alerts import Alert, send_alert
from quality.report import render_report


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


def test_the_quality_report_puts_failures_first_with_table_check_rows_and_examples():
    checks = [
        {
            "asset": "marts/customer_360",
            "name": "gx_customer_360",
            "passed": False,
            "blocking": True,
            "description": "marts.customer_360: 1 of 7 expectations failed\n- column customer_key: "
            "column values to be unique (2 rows fail, e.g. [7, 7])",
        },
        {
            "asset": "raw/x",
            "name": "rows_reconcile",
            "passed": True,
            "blocking": True,
            "description": "",
        },
    ]
    page = render_report(
        "r1", "2025-01-01", False, checks, {}, {"crm": {"files": 1, "received": 5}}
    )
    assert page.index("Failed checks (1)") < page.index("All checks (2)")
    assert "2 rows fail, e.g. [7, 7]" in page and "<span class='fail'>blocking</span>" in page
    assert "<td>crm</td><td>1</td>" in page


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
