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
