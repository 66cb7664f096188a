"""Benchmark `cif generate`: time, peak memory and output size for a few population sizes.

    .venv/bin/python bench/bench_generate.py [SIZES...]      (default: 10000 100000 1000000)

Each size runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from ingest.demo.generator import generate
out, n = Path(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
s = generate(out, customers=n, start=dt.date(2023, 7, 1), end=dt.date(2025, 6, 30), seed=7)
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "files": len(s.files), "rows": s.rows}))
"""


def run(size: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"cif-gen-{size}-"))
    try:
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(out / "landing"), str(size)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        stats["disk_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
        return stats
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(sizes: list[int]) -> None:
    print(f"cif generate, 2 years ({dt.date(2023, 7, 1)} to {dt.date(2025, 6, 30)}), seed 7")
    header = (
        f"{'customers':>10} {'seconds':>8} {'peak MB':>8} {'files':>6} {'rows':>12} {'disk MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        s = run(size)
        print(
            f"{size:>10,} {s['seconds']:>8.1f} {s['peak_mb']:>8.0f} {s['files']:>6} "
            f"{s['rows']:>12,} {s['disk_mb']:>8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
