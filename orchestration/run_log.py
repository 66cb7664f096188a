"""A run's log file that never breaks the run: Dagster's and dbt's output go here, and a write
that fails (a full disk) is dropped rather than raised into whichever step printed."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path


class RunLog(io.TextIOBase):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lost: str | None = None  # why output stopped being written, if it did
        try:
            self._file = path.open("w")
        except OSError as exc:
            self._file = None
            self.lost = str(exc)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._file is not None:
            try:
                self._file.write(text)
            except OSError as exc:
                self.lost = str(exc)
                self._close()
        return len(text)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self.lost = str(exc)
                self._close()

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self._close()
