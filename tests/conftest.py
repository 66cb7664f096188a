"""Shared fixtures: small generated landing zones, real DuckDB files, a prepared dbt manifest."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import CifSettings

DEMO_END = dt.date(2025, 6, 30)
DEMO_START = dt.date(2023, 7, 1)


def clean_env() -> dict[str, str]:
    """This process's environment without CIF_* settings, for the commands tests start."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CIF_")}


def run_command(
    command: list[str],
    cwd: Path | None = None,
    timeout: float = 900,
    ignoring_sigterm: bool = False,
) -> subprocess.CompletedProcess:
    """Run `command` without the caller's CIF_* environment and stdin, its output going to
    files rather than pipes: a helper process that outlives it (Dagster's compute-log `tail`)
    cannot keep the test waiting for the end of a pipe, and under pytest-xdist stdin is the
    worker's channel to the controller. `ignoring_sigterm` starts it the way a parent that
    ignores SIGTERM would."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            timeout=timeout,
            preexec_fn=(
                (lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
                if ignoring_sigterm
                else None
            ),
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, done.returncode, out.read(), err.read())


def run_cif(
    *args: str, cwd: Path, timeout: float = 900, ignoring_sigterm: bool = False
) -> subprocess.CompletedProcess:
    """`cif ARGS` in a fresh process (see run_command)."""
    return run_command(
        [sys.executable, "-m", "orchestration.cli", *args], cwd, timeout, ignoring_sigterm
    )


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention `text` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in command:
            found.append(command)
    return found


@pytest.fixture(autouse=True)
def _no_cif_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's CIF_* environment."""
    for name in list(os.environ):
        if name.startswith("CIF_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    from orchestration.dbt_files import prepare_manifest

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
