"""The dbt project on disk: where it is, which dbt runs it, and its manifest.

Kept apart from the dbt assets (orchestration/dbt.py), which read the manifest when they are
imported: the manifest must be prepared before that import.
"""

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def dbt_executable() -> str:
    """The dbt of this environment (the venv need not be activated), else the one on PATH."""
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


def prepare_manifest() -> Path:
    """Parse the dbt project so that target/manifest.json is current before definitions load."""
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        check=True,
    )
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
