"""Every lookup of personal data is written down: who, when, which customer, which role.

One JSON object a line, appended under an exclusive lock so lookups from the CLI and the web
page never interleave. A search text is itself personal data (a name, an e-mail): the log keeps
its pseudonym, not the text."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path


def record(
    log: Path,
    *,
    user: str,
    role: str,
    action: str,
    customer_keys: Iterable[int],
    channel: str,
    **details: object,
) -> dict:
    entry = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "user": user,
        "role": role,
        "action": action,
        "customer_keys": sorted({int(k) for k in customer_keys}),
        "channel": channel,
        **details,
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(entry, default=str) + "\n").encode())
    finally:
        os.close(fd)
    return entry


def entries(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def drop_before(log: Path, cutoff: dt.datetime) -> int:
    """Rewrite the log without the lookups made before `cutoff`, in place under the writers'
    lock: a lookup waiting for the lock appends after the rewrite, none is lost. The log is in
    the order written, so a first line inside the window means nothing to drop. Returns the
    lines dropped."""
    if not log.exists():
        return 0
    fd = os.open(log, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "r+b") as file:
            if not _before(file.readline(), cutoff):
                return 0
            file.seek(0)
            lines = file.read().splitlines(keepends=True)
            kept = [line for line in lines if not _before(line, cutoff)]
            if len(kept) == len(lines):
                return 0
            file.seek(0)
            file.truncate()
            file.writelines(kept)
            file.flush()
            os.fsync(file.fileno())
        return len(lines) - len(kept)
    finally:
        os.close(fd)


def _before(line: bytes, cutoff: dt.datetime) -> bool:
    """A lookup made before `cutoff` (a line that cannot be read is kept)."""
    try:
        at = dt.datetime.fromisoformat(json.loads(line)["at"])
    except (ValueError, KeyError, TypeError):
        return False
    return at < cutoff
