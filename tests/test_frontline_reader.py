"""The frontline's reader on real DuckDB files: held only during lookups, a newly published file
seen at the next lookup, several threads at once, and a writer on the file waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from frontline.reader import PublishedWarehouse, WarehouseUnavailable


def publish(path, version: int) -> None:
    """As a run publishes: write a new file beside it, then rename it over the old one."""
    new = path.with_name("new.duckdb")
    with duckdb.connect(str(new)) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.customer_360 as select {version} as version")
    os.replace(new, path)


def version(reader: PublishedWarehouse) -> int:
    with reader.lookup() as con:
        return con.execute("select version from marts.customer_360").fetchone()[0]


def test_each_lookup_reads_the_newest_published_file_and_holds_it_only_meanwhile(tmp_path):
    path = tmp_path / "cif.duckdb"
    reader = PublishedWarehouse(path)
    with pytest.raises(WarehouseUnavailable, match="run `cif run` first"):
        version(reader)
    publish(path, 1)
    assert version(reader) == 1
    # between lookups another process may write the file (it fails if the file is held)
    write = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(sys.argv[2])"
    update = "update marts.customer_360 set version = 2"
    subprocess.run([sys.executable, "-c", write, str(path), update], check=True)
    assert version(reader) == 2
    with reader.lookup() as con:  # a lookup under way when a run publishes finishes on its file
        publish(path, 3)
        assert con.execute("select version from marts.customer_360").fetchone()[0] == 2
        assert version(reader) == 3  # while the next one reads the new file
    assert reader._current is None


def test_lookups_from_several_threads_share_one_attachment(tmp_path):
    path = tmp_path / "cif.duckdb"
    publish(path, 7)
    reader = PublishedWarehouse(path)
    seen, errors = [], []

    def look_up() -> None:
        try:
            for _ in range(20):
                seen.append(version(reader))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and seen == [7] * 80


def test_a_writer_on_the_published_file_is_waited_for_then_given_up_on(tmp_path):
    path = tmp_path / "cif.duckdb"
    publish(path, 1)
    # a partial run from the Dagster UI writes the published file in place, in another process
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); "
            "print('held', flush=True); time.sleep(float(sys.argv[1]))",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WarehouseUnavailable, match="is being written"):
        version(PublishedWarehouse(path, wait=0.3))
    started = time.monotonic()
    assert version(PublishedWarehouse(path, wait=30)) == 1  # once the writer is done
    assert time.monotonic() - started < 30
    holder.wait()


def test_a_file_caught_unreadable_is_tried_again_until_the_wait_ends(tmp_path):
    """Once in four suite runs an attach at the instant of a publish failed ("Failed to load
    metadata pointer"): a lookup tries again, as it waits for a writer, then says so plainly."""
    path = tmp_path / "cif.duckdb"
    publish(path, 1)
    good = path.read_bytes()
    torn = good[:4096] + bytes(len(good) - 4096)  # the header of a file, blocks not there
    path.write_bytes(torn)
    later = threading.Timer(0.4, lambda: publish(path, 2))
    later.start()
    started = time.monotonic()
    assert version(PublishedWarehouse(path, wait=5.0)) == 2
    assert 0.3 < time.monotonic() - started < 5.0
    later.join()
    path.write_bytes(torn)
    with pytest.raises(WarehouseUnavailable, match="could not be read"):
        version(PublishedWarehouse(path, wait=0.5))
