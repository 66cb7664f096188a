"""The dbt project on disk: where it is, which dbt runs it, and its manifest.

Kept apart from the dbt assets (orchestration/dbt.py), which read the manifest when they are
imported: the manifest must be prepared before that import.
"""

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
