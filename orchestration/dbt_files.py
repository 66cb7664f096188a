"""The dbt project on disk: where it is, which dbt runs it, and its manifest.

Kept apart from the dbt assets (orchestration/dbt.py), which read the manifest when they are
imported: the manifest must be prepared before that import.
"""

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
PARSE_STATE = "partial_parse.msgpack"  # dbt's saved parse, reused when nothing changed


def dbt_executable() -> str:
    """The dbt of this environment (the venv need not be activated), else the one on PATH."""
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


def prepare_manifest() -> Path:
    """Parse the dbt project so that target/manifest.json is current before definitions load.

    Safe when several processes start at once (`cif run` beside `cif ui`, parallel tests): one
    parses at a time, into a private folder, and the manifest and parse state are swapped in
    with atomic renames, so a reader never sees a half-written manifest."""
    target = MANIFEST.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as private:
            state = target / PARSE_STATE
            if state.exists():  # start from the last parse: only changed files are re-read
                shutil.copy(state, Path(private) / PARSE_STATE)
            subprocess.run(
                [
                    dbt_executable(),
                    "parse",
                    "--quiet",
                    "--profiles-dir",
                    str(DBT_PROJECT_DIR),
                    "--target-path",
                    private,
                ],
                cwd=DBT_PROJECT_DIR,
                check=True,
            )
            for name in (PARSE_STATE, MANIFEST.name):
                if (Path(private) / name).exists():
                    os.replace(Path(private) / name, target / name)
    return MANIFEST


def build_layer(warehouse: Path, as_of: dt.date, tag: str, target: Path) -> None:
    """Build one tagged dbt layer (models only) on `warehouse` as of `as_of`, outside Dagster:
    for benchmarks and tests that need, say, the integration layer without a whole run."""
    variables = {"warehouse_path": str(warehouse), "as_of": as_of.isoformat()}
    subprocess.run(
        [
            dbt_executable(),
            "run",
            "--quiet",
            "--select",
            f"tag:{tag}",
            "--vars",
            json.dumps(variables),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        check=True,
    )
