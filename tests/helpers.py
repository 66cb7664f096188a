"""Helpers the tests share (fixtures live in conftest.py): running commands the way a user
would, and small hand-written canonical-layout sources."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_END = dt.date(2025, 6, 30)
DEMO_START = dt.date(2023, 7, 1)
HISTORY_DAY1 = dt.date(2024, 6, 30)  # canonical purchases() end here


def clean_env() -> dict[str, str]:
    """This process's environment without CIF_* settings, for the commands tests start."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CIF_")}


def run_command(
    command: list[str],
    cwd: Path | None = None,
    timeout: float = 900,
    ignoring_sigterm: bool = False,
    env: dict[str, str] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run `command` without the caller's CIF_* environment and stdin, its output going to
    files rather than pipes: a helper process that outlives it (Dagster's compute-log `tail`)
    cannot keep the test waiting for the end of a pipe, and under pytest-xdist stdin is the
    worker's channel to the controller. `ignoring_sigterm` starts it the way a parent that
    ignores SIGTERM would. `env` adds variables (CIF_ROLE...) to the clean environment.
    `meanwhile` is called again and again (a third of a second apart) while it runs."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env={**clean_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=(
                (lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
                if ignoring_sigterm
                else None
            ),
        )
        deadline = time.monotonic() + timeout
        try:
            while meanwhile and proc.poll() is None and time.monotonic() < deadline:
                meanwhile()
                time.sleep(0.3)
            proc.wait(timeout=max(deadline - time.monotonic(), 0))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, proc.returncode, out.read(), err.read())


def run_cif(
    *args: str,
    cwd: Path,
    timeout: float = 900,
    ignoring_sigterm: bool = False,
    env: dict[str, str] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """`cif ARGS` in a fresh process (see run_command)."""
    return run_command(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd,
        timeout,
        ignoring_sigterm,
        env,
        meanwhile,
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


def write(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def customers(n=80):
    return pd.DataFrame(
        {
            "source_customer_id": [f"c{i}" for i in range(n)],
            "first_name": [f"Name{i}" for i in range(n)],
            "last_name": ["Lee" if i == 0 else f"Surname{i}" for i in range(n)],
            "email": [f"p{i}@example.com" for i in range(n)],
            "address_line": [f"{i} Oak Street" for i in range(n)],
            "postcode": ["0101"] * n,
            "updated_at": ["2024-01-01T09:00:00"] * n,
        }
    )


def purchases(n=80, seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        days = np.sort(rng.choice(np.arange(0, 540), size=rng.integers(1, 9), replace=False))
        rows += [
            (
                f"t{i}-{d}",
                f"c{i}",
                (dt.date(2023, 1, 1) + dt.timedelta(days=int(d))).isoformat(),
                f"{rng.gamma(4, 10):.2f}",
            )
            for d in days
        ]
    frame = pd.DataFrame(
        rows, columns=["transaction_id", "source_customer_id", "occurred_at", "amount"]
    )
    return frame[frame.occurred_at <= HISTORY_DAY1.isoformat()]


def nightly(settings):
    """The nightly job on `settings`, in this process, as `cif run` runs it."""
    from orchestration.definitions import build_definitions
    from orchestration.runner import run_nightly

    return run_nightly(settings, build_definitions(settings))
