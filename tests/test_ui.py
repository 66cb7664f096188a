"""`cif ui` serves the Dagster UI on 127.0.0.1 over the same definitions."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers import clean_env

pytestmark = pytest.mark.slow(seconds=70)

QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name
  assetNodes { assetKey { path } }
  schedules { name cronSchedule scheduleState { status } }
  sensors { name sensorState { status } }
} } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


RUNS = """{ runsOrError { ... on Runs { results { runId
  repositoryOrigin { repositoryLocationName repositoryName } } } }
  workspaceOrError { ... on Workspace { locationEntries { name } } } }"""


def a_run_as_cif_run_records_it(tmp_path) -> str:
    """A run of the nightly job created the way `cif run` creates its runs (not executed:
    what the UI's timeline needs is the run's repository origin)."""
    from orchestration.definitions import defs
    from orchestration.instance import dagster_instance
    from orchestration.jobs import NIGHTLY_JOB
    from orchestration.origin import remote_job_origin
    from orchestration.settings import CifSettings

    settings = CifSettings(warehouse=tmp_path / "warehouse" / "cif.duckdb").resolved()
    run = dagster_instance(settings).create_run_for_job(
        defs.resolve_job_def(NIGHTLY_JOB), remote_job_origin=remote_job_origin(NIGHTLY_JOB)
    )
    return run.run_id


def test_cif_ui_answers_on_localhost_and_lists_assets_schedules_and_sensors(tmp_path, dbt_manifest):
    run_id = a_run_as_cif_run_records_it(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "ui", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = post(f"http://127.0.0.1:{port}/graphql", QUERY)
                if answer.get("data", {}).get("repositoriesOrError", {}).get("nodes"):
                    break
            except OSError:
                pass
            time.sleep(1)
        assert answer, f"the UI did not answer on 127.0.0.1:{port}"
        (repo,) = answer["data"]["repositoriesOrError"]["nodes"]
        assets = {"/".join(a["assetKey"]["path"]) for a in repo["assetNodes"]}
        assert {
            "marts/customer_360",
            "core/customer_identity_map",
            "scores/customer_scores",
        } <= assets
        assert {s["name"]: s["cronSchedule"] for s in repo["schedules"]} == {
            "nightly_schedule": "0 2 * * *"
        }
        # on by default: nothing to switch on before the first night
        assert {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]} == {
            "nightly_schedule": "RUNNING"
        }
        sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
        assert sensors == {
            "landing_sensor": "RUNNING",
            "nightly_failure_alert": "RUNNING",
            "nightly_run_report": "RUNNING",
        }
        # the run belongs to the UI's code location and repository: the overview timeline,
        # which groups runs by them, shows it
        runs = post(f"http://127.0.0.1:{port}/graphql", RUNS)["data"]
        (run,) = [r for r in runs["runsOrError"]["results"] if r["runId"] == run_id]
        locations = [e["name"] for e in runs["workspaceOrError"]["locationEntries"]]
        assert run["repositoryOrigin"] == {
            "repositoryLocationName": locations[0],
            "repositoryName": repo["name"],
        }
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
