"""Shared fixtures: small generated landing zones, real DuckDB files, a prepared dbt manifest."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import CifSettings
from tests.helpers import DEMO_END, DEMO_START, land_a_customer_with_an_open_complaint, run_cif


def pytest_sessionstart(session: pytest.Session) -> None:
    """The dbt manifest before any test module is collected: the Dagster definitions (and
    modules that take asset keys from them) read it when imported."""
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (their `slow(seconds=...)` mark: each file's setup and tests in
    a whole run, session 17), so that `pytest -n 3 --dist loadfile --no-loadscope-reorder`
    hands out the long whole-pipeline files while short ones are left to fill the end, and the
    workers finish together rather than two waiting on the third's last file. Without
    --no-loadscope-reorder, xdist would order the files by their number of tests instead."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("slow")
        return mark.kwargs.get("seconds", 0) if mark else 0

    items.sort(key=seconds, reverse=True)  # stable: a file's tests keep their order


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update", action="store_true", help="rewrite the snapshots tests compare with"
    )


@pytest.fixture
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--snapshot-update"))


@pytest.fixture(autouse=True)
def _no_cif_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's CIF_* environment."""
    for name in list(os.environ):
        if name.startswith("CIF_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    from orchestration.dbt_project import prepare_manifest

    return prepare_manifest()


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo landing zone (read-only for tests: copy it before changing it)."""
    out = tmp_path_factory.mktemp("demo") / "landing"
    generate_demo(out)
    return out


def generate_demo(landing: Path) -> None:
    """The tests' demo: 300 customers over the two years to DEMO_END."""
    from ingest.demo.generator import generate

    generate(landing, customers=300, start=DEMO_START, end=DEMO_END, seed=11)


@dataclass(frozen=True)
class PublishedDemo:
    """A folder laid out as `cif run` lays out its defaults (landing/, warehouse/, exports/)
    after one run as of DEMO_END of the demo and a hand-written source, and what it printed."""

    root: Path
    run: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def published_demo(tmp_path_factory, worker_id, dbt_manifest) -> PublishedDemo:
    """The demo landing zone (as `demo_landing`) and a hand-written source of one customer
    (helpers.land_a_customer_with_an_open_complaint) through one `cif run`, built once per test
    session: under pytest-xdist the first worker that asks builds it in the folder all workers
    share, the others wait for it. Read-only: copy it before running more nights on it."""
    shared = tmp_path_factory.getbasetemp()
    shared = shared if worker_id == "master" else shared.parent
    root, record = shared / "published_demo", shared / "published_demo.json"
    with open(shared / "published_demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            generate_demo(root / "landing")
            land_a_customer_with_an_open_complaint(root / "landing")
            done = run_cif("run", "--as-of", DEMO_END.isoformat(), cwd=root)
            record.write_text(json.dumps([done.args, done.returncode, done.stdout, done.stderr]))
    run = subprocess.CompletedProcess(*json.loads(record.read_text()))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return PublishedDemo(root, run)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def settings_for(tmp_path: Path):
    def make(landing: Path, as_of: dt.date = DEMO_END) -> CifSettings:
        return CifSettings(
            landing=landing,
            warehouse=tmp_path / "warehouse" / "cif.duckdb",
            exports=tmp_path / "exports",
            as_of=as_of,
        ).resolved()

    return make
