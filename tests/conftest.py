"""Shared fixtures: small generated landing zones, real DuckDB files, a prepared dbt manifest."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import CifSettings
from tests.helpers import DEMO_END, DEMO_START


def pytest_sessionstart(session: pytest.Session) -> None:
    """The dbt manifest before any test module is collected: the Dagster definitions (and
    modules that take asset keys from them) read it when imported."""
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()


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
    from ingest.demo.generator import generate

    out = tmp_path_factory.mktemp("demo") / "landing"
    generate(out, customers=300, start=DEMO_START, end=DEMO_END, seed=11)
    return out


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
