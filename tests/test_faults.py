"""Faults a nightly run must survive in plain words: two runs at once, a full disk."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    HISTORY_DAY1,
    cif_on_small_disk,
    clean_env,
    customers,
    namespaces_available,
    nightly_in_cif_layout,
    purchases,
    write,
)

pytestmark = pytest.mark.slow(seconds=270)
AS_OF = HISTORY_DAY1.isoformat()
small_disk = pytest.mark.skipif(
    not namespaces_available(),
    reason="no unprivileged user and mount namespaces here: a full disk cannot be simulated",
)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def published(tmp_path_factory, dbt_manifest) -> Path:
    """A folder laid out as `cif run` lays it out, with a landing zone and a warehouse published
    by one successful nightly run (in this process: the tests below start `cif` themselves)."""
    root = tmp_path_factory.mktemp("faults")
    write(root / "landing" / "crm" / "customers" / "day1.csv", customers(40))
    write(root / "landing" / "crm" / "transactions" / "day1.csv", purchases(40))
    nightly_in_cif_layout(root, HISTORY_DAY1)
    return root


def copy_site(published: Path, to: Path) -> Path:
    shutil.copytree(published / "landing", to / "landing")
    (to / "warehouse").mkdir(parents=True)
    shutil.copy(published / "warehouse" / "cif.duckdb", to / "warehouse" / "cif.duckdb")
    return to


def test_of_two_runs_started_together_the_second_stops_with_exit_3(published, tmp_path):
    site = copy_site(published, tmp_path)
    command = [sys.executable, "-m", "orchestration.cli", "run", "--as-of", AS_OF]
    runs = [
        subprocess.Popen(
            command,
            cwd=site,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=(site / f"out{i}").open("w"),
            stderr=(site / f"err{i}").open("w"),
        )
        for i in range(2)
    ]
    codes = [run.wait(timeout=900) for run in runs]
    assert sorted(codes) == [0, 3], codes
    loser = codes.index(3)
    message = (site / f"err{loser}").read_text()
    assert "is being written by another run" in message and "Traceback" not in message
    assert not (site / "warehouse" / "alerts.jsonl").exists()  # the loser raised no alert


@small_disk
def test_a_full_disk_under_the_warehouse_fails_in_plain_words_and_leaves_it_as_it_was(
    published, tmp_path
):
    site = copy_site(published, tmp_path)
    warehouse = site / "warehouse" / "cif.duckdb"
    before = sha(warehouse)
    kept = tmp_path / "kept.duckdb"
    shutil.move(warehouse, kept)
    # room for the published file and Dagster's run history, not for a working copy of it
    size_kb = kept.stat().st_size // 1024 + 3072
    inspect = (
        f"{sys.executable} -c \"import hashlib, json, pathlib; w = pathlib.Path('{warehouse}'); "
        "print(json.dumps({'sha': hashlib.sha256(w.read_bytes()).hexdigest(), "
        "'left': sorted(str(p.relative_to(w.parent)) for p in w.parent.rglob('*') "
        "if p.suffix in ('.duckdb', '.partial', '.wal')), "
        "'alerts': len((w.parent / 'alerts.jsonl').read_text().splitlines())}))\""
    )
    done = cif_on_small_disk(
        ["run", "--as-of", AS_OF],
        site,
        site / "warehouse",
        size_kb,
        before=f"cp '{kept}' '{warehouse}'",
        after=inspect,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert (site / "cif.exit").read_text().strip() == "1"
    stderr = (site / "cif.err").read_text()
    assert "is full" in stderr and "Traceback" not in stderr and "Exception" not in stderr
    assert f"The published warehouse {warehouse} was left unchanged" in " ".join(stderr.split())
    assert state == {"sha": before, "left": ["cif.duckdb"], "alerts": 1}


@small_disk
def test_a_full_disk_under_the_exports_says_the_warehouse_was_published(published, tmp_path):
    site = copy_site(published, tmp_path)
    write(site / "landing" / "crm" / "transactions" / "day2.csv", purchases(40, seed=9))
    warehouse = site / "warehouse" / "cif.duckdb"
    before = sha(warehouse)
    exports = site / "exports"
    done = cif_on_small_disk(["run", "--as-of", AS_OF], site, exports, 64)
    assert done.returncode == 0, done.stderr
    assert (site / "cif.exit").read_text().strip() == "1"
    stderr = " ".join((site / "cif.err").read_text().split())
    assert f"The warehouse {warehouse} was published by this run" in stderr
    assert "export" in stderr and "is full" in stderr and "Traceback" not in stderr
    assert sha(warehouse) != before  # published indeed
