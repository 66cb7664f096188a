"""A human-readable quality report per run (one self-contained HTML page)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ingest.loader import SUMMARY_COLUMNS

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }
.fail { color: #b00020; font-weight: 600; } .warn { color: #9a6700; } .ok { color: #1a7f37; }
pre { white-space: pre-wrap; margin: 0; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_report(
    run_id: str,
    as_of: str,
    ok: bool,
    checks: Sequence[Mapping[str, Any]],
    failed_steps: Mapping[str, str],
    by_source: Mapping[str, Mapping[str, int]],
    notes: Sequence[str] = (),
) -> str:
    """The report as HTML: verdict, failures first (table, check, rows, examples), then all."""
    verdict = "<span class='ok'>passed</span>" if ok else "<span class='fail'>FAILED</span>"
    parts = [
        f"<h1>Quality report, run {html.escape(run_id)}</h1>",
        f"<p>As of {html.escape(as_of)}: the run {verdict}.</p>",
    ]
    if failed_steps:
        parts.append("<h2>Failed steps</h2>")
        rows = [[html.escape(s), f"<pre>{html.escape(e)}</pre>"] for s, e in failed_steps.items()]
        parts.append(_table(["step", "error"], rows))
    failing = [c for c in checks if not c["passed"]]
    parts.append(f"<h2>Failed checks ({len(failing)})</h2>")
    if failing:
        rows = [
            [
                html.escape(c["asset"]),
                html.escape(c["name"]),
                "<span class='fail'>blocking</span>"
                if c["blocking"]
                else "<span class='warn'>warning</span>",
                f"<pre>{html.escape(c['description'])}</pre>",
            ]
            for c in failing
        ]
        parts.append(_table(["table", "check", "severity", "what failed (rows, examples)"], rows))
    else:
        parts.append("<p class='ok'>None.</p>")
    if notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
        )
    if by_source:
        rows = [
            [html.escape(name), *(f"{s.get(k, 0):,}" for k in SUMMARY_COLUMNS)]
            for name, s in sorted(by_source.items())
        ]
        headings = ["source", *SUMMARY_COLUMNS.values()]
        parts.append("<h2>Rows per source</h2>" + _table(headings, rows))
    rows = [
        [
            html.escape(c["asset"]),
            html.escape(c["name"]),
            "<span class='ok'>passed</span>" if c["passed"] else "<span class='fail'>failed</span>",
        ]
        for c in sorted(checks, key=lambda c: (c["asset"], c["name"]))
    ]
    parts.append(
        f"<h2>All checks ({len(checks)})</h2>" + _table(["table", "check", "result"], rows)
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>CIF quality {html.escape(run_id)}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"


def write_report(folder: Path, run_id: str, page: str) -> Path:
    """Write the page as `<folder>/<run_id>.html` and `<folder>/latest.html`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.html"
    path.write_text(page)
    (folder / "latest.html").write_text(page)
    return path
