"""The warehouse file's single writer and all-or-nothing runs.

A run never writes the published warehouse in place. It works on a private copy
(`<dir>/.work/<run_id>/<name>`) and, when every step succeeded, replaces the published file
with it in one `os.replace`. A run that crashes or is killed leaves the published warehouse
exactly as it was; the next run starts again from it, so nothing is done twice. One run at a
time holds the writer lock (`<name>.lock`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ingest.warehouse import connect


class WarehouseBusyError(RuntimeError):
    """Another run holds the warehouse's writer lock."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking lock on the warehouse, released when the process ends."""

    def __init__(self, warehouse: Path, owner: str) -> None:
        self.path = lock_path(warehouse)
        self.owner = owner
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WarehouseBusyError(
                f"The warehouse {self.path.with_suffix('')} is being written by another run "
                f"({holder}). DuckDB allows one writer: wait for it to finish, then run again."
            ) from None
        os.ftruncate(fd, 0)
        started = dt.datetime.now().isoformat(timespec="seconds")
        os.pwrite(fd, f"run {self.owner}, pid {os.getpid()}, since {started}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


WORKING_NAME = "cif.duckdb"


@dataclass(frozen=True)
class WorkingCopy:
    """The private copy of the warehouse that one run writes."""

    published: Path
    run_id: str

    @property
    def folder(self) -> Path:
        return self.published.parent / ".work" / self.run_id

    @property
    def path(self) -> Path:
        # One name whatever the published file is called: DuckDB names the catalog after the
        # file, and dbt's parsed project (parsed once per process) names relations "cif".
        return self.folder / WORKING_NAME

    @property
    def _origin_file(self) -> Path:
        return self.folder / "origin.json"

    def begin(self) -> Path:
        """Copy the published warehouse (if any) into the working folder, once per run."""
        if self.path.exists():
            return self.path
        self.folder.mkdir(parents=True, exist_ok=True)
        origin = _fingerprint(self.published)
        if self.published.exists():
            wal = self.published.with_name(self.published.name + ".wal")
            if wal.exists():
                # A writer died before its checkpoint: let DuckDB replay the log first.
                connect(self.published).close()
            partial = self.path.with_name(self.path.name + ".partial")
            try:
                shutil.copyfile(self.published, partial)
            except OSError:  # e.g. the disk is full: leave no half copy behind
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, self.path)
        self._origin_file.write_text(json.dumps(origin))
        return self.path

    def publish(self) -> Path:
        """Atomically replace the published warehouse with this run's copy."""
        if not self.path.exists():
            raise FileNotFoundError(f"run {self.run_id} has no working copy to publish")
        expected = json.loads(self._origin_file.read_text())
        if _fingerprint(self.published) != expected:
            raise WarehouseBusyError(
                f"{self.published} changed while run {self.run_id} was working on its copy; "
                "the run's results were not published. Run again."
            )
        os.replace(self.path, self.published)
        shutil.rmtree(self.folder, ignore_errors=True)
        return self.published

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _fingerprint(path: Path) -> dict[str, float | int] | None:
    if not path.exists():
        return None
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def clean_stale_work(published: Path, keep: str | None = None) -> list[Path]:
    """Remove working copies left by runs that died (call while holding the writer lock)."""
    work = published.parent / ".work"
    removed: list[Path] = []
    if work.exists():
        for folder in work.iterdir():
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed
