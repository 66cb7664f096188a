"""The run report: one self-contained HTML page per run (inline CSS, inline SVG charts, plots as
data URIs), readable from the file system without a server or a network.

What failed first comes first; then rows per source with quarantine reasons, KPI trends,
segments, model validation, row counts against previous runs, and every check.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.loader import SUMMARY_COLUMNS
from quality.charts import png_data_uri, segment_bars_svg, trend_svg
from quality.report_data import KPI_COLUMNS, WarehouseFacts

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #222;
       background: #f6f7f9; font-size: 14px; line-height: 1.4; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.5rem; margin: .2rem 0; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: .2rem 1.2rem 1rem;
          margin-top: 1rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13px; }
td, th { border-bottom: 1px solid #e6e6e6; padding: .25rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.banner { padding: .8rem 1.2rem; border-radius: 6px; margin-top: 1rem; font-size: 15px; }
.banner.ok { background: #e6f4ea; border: 1px solid #1a7f37; }
.banner.failed { background: #fdecea; border: 1px solid #b00020; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: 12px;
         font-weight: 600; white-space: nowrap; }
.blocking, .failed-step { background: #b00020; color: #fff; } .warning { background: #f2c94c; }
.passed { background: #d1f0da; color: #1a5e2a; } .skipped { background: #e1e4e8; }
.up { color: #1a7f37; } .down { color: #b00020; } .muted { color: #666; }
.grid { display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; }
.grid > div { flex: 0 0 auto; } .grid svg { max-width: 100%; height: auto; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; align-items: start; }
.plots figure { margin: 0; } .plots figure.wide { grid-column: span 2; }
.plots img { width: 100%; border: 1px solid #eee; }
.example { font-family: ui-monospace, monospace; font-size: 12px; max-width: 420px;
           overflow-wrap: anywhere; }
dl.links { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .6rem 0; }
dl.links dt { color: #666; } dl.links dd { margin: 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
"""


@dataclass
class RunFacts:
    """What the run did, from its events (orchestration collects them)."""

    run_id: str
    as_of: str
    ok: bool
    checks: Sequence[Mapping[str, Any]]
    failed_steps: Mapping[str, str]
    by_source: Mapping[str, Mapping[str, int]]
    notes: Sequence[str] = ()
    build: str = ""  # why the derived tables were rebuilt in full ("": added incrementally)
    explanation: str = ""
    seconds: float = 0.0
    step_seconds: Mapping[str, float] = field(default_factory=dict)
    skipped_steps: Sequence[str] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    plots: Sequence[Path] = ()


def esc(value: Any) -> str:
    return html.escape(str(value))


def badge(kind: str, text: str | None = None) -> str:
    return f"<span class='badge {kind}'>{esc(text or kind)}</span>"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] = frozenset()):
    """An HTML table; cells are HTML already (escape what you pass); columns in `numeric` are
    right-aligned."""

    def cls(i: int) -> str:
        return " class='n'" if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value: Any, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "<span class='muted'>n/a</span>"
    return f"{value:,.{digits}f}"


def _severity(check: Mapping[str, Any]) -> str:
    return badge("blocking") if check["blocking"] else badge("warning")


def _failed_check_rows(checks: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Blocking failures first; a check failing on several tables is one row (a missing
    source day fails volume_and_freshness on every table of it)."""
    by_name: dict[tuple[bool, str], list[Mapping[str, Any]]] = {}
    for check in checks:
        if not check["passed"]:
            by_name.setdefault((not check["blocking"], check["name"]), []).append(check)
    rows = []
    for (_, name), failing in sorted(by_name.items()):
        tables = ", ".join(esc(c["asset"]) for c in failing)
        what = "".join(f"<pre>{esc(c['description'])}</pre>" for c in failing)
        if len(failing) > 3:
            what = f"<details><summary>{len(failing)} tables</summary>{what}</details>"
        rows.append(
            [_severity(failing[0]), f"{esc(name)}<br><span class='muted'>{tables}</span>", what]
        )
    return rows


def _first_failures(run: RunFacts) -> str:
    """Failed steps in the order they failed, then blocking checks, then warnings."""
    rows = [
        [badge("failed-step", "step failed"), esc(step), f"<pre>{esc(error)}</pre>"]
        for step, error in run.failed_steps.items()
    ]
    rows += _failed_check_rows(run.checks)
    if not rows:
        return "<p>Nothing failed: every step ran and every check passed.</p>"
    return table(["severity", "step or check", "what failed (rows, examples)"], rows)


def _header(run: RunFacts) -> str:
    state = "ok" if run.ok else "failed"
    blocking = sum(1 for c in run.checks if not c["passed"] and c["blocking"])
    warnings = sum(1 for c in run.checks if not c["passed"] and not c["blocking"])
    verdict = (
        "<b>Succeeded</b>: the warehouse was published."
        if run.ok
        else "<b>FAILED</b>: nothing of this run was published; the warehouse is as it was."
    )
    counts = (
        f"{len(run.checks) - blocking - warnings} checks passed, {blocking} blocking failed, "
        f"{warnings} warnings; {len(run.failed_steps)} steps failed, "
        f"{len(run.skipped_steps)} not run; {run.seconds:.0f} s"
    )
    explanation = f"<p>{esc(run.explanation)}</p>" if run.explanation else ""
    links = "".join(
        f"<dt>{esc(name)}</dt><dd><a href='{esc(url)}'>{esc(url)}</a></dd>"
        for name, url in run.links.items()
    )
    return (
        f"<h1>CIF run report: as of {esc(run.as_of)}</h1>"
        f"<div class='muted'>run {esc(run.run_id)}</div>"
        + (f"<p>{esc(run.build)}</p>" if run.build else "")
        + f"<div class='banner {state}'>{verdict} {counts}.{explanation}</div>"
        f"<dl class='links'>{links}</dl>"
    )


def _sources(run: RunFacts, facts: WarehouseFacts) -> str:
    rows = [
        [esc(name), *(_number(s.get(k, 0)) for k in SUMMARY_COLUMNS)]
        for name, s in sorted(run.by_source.items())
    ]
    numeric = set(range(1, len(SUMMARY_COLUMNS) + 1))
    part = (
        table(["source", *SUMMARY_COLUMNS.values()], rows, numeric)
        if rows
        else "<p>No new files landed in this run.</p>"
    )
    q = facts.quarantine
    if q.empty:
        return part + "<p>Nothing was quarantined in this run.</p>"
    reasons = [
        [esc(r.source_system), esc(r.entity), esc(r.what), esc(r.column_name), esc(r.reason),
         _number(r.n), f"<span class='example'>{esc(Path(r.first_file).name)}</span>"
         + (f" <span class='muted'>and {r.files - 1} more</span>" if r.files > 1 else "")]
        for r in q.itertuples()
    ]  # fmt: skip
    heading = "<h3>Quarantined in this run, by reason</h3>"
    headers = ["source", "entity", "what", "column", "reason", "rows", "file"]
    note = "<p class='muted'>The rejected records are in quarantine.rejected_rows and .rejected_values.</p>"
    return part + heading + table(headers, reasons, {5}) + note


def _kpis(facts: WarehouseFacts) -> str:
    k = facts.kpis
    if k.empty:
        return "<p>No KPI history (marts.kpi_daily was not built).</p>"
    charts = [
        f"<div>{trend_svg(k.kpi_date, k[column], title, percent=column.endswith('_rate_30d'))}</div>"
        for column, title in KPI_COLUMNS.items()
    ]
    first, last = k.kpi_date.iloc[0], k.kpi_date.iloc[-1]
    return (
        f"<p class='muted'>marts.kpi_daily, {len(k):,} days from {first:%Y-%m-%d} to "
        f"{last:%Y-%m-%d}.</p><div class='grid'>{''.join(charts)}</div>"
    )


def _segments(facts: WarehouseFacts) -> str:
    s = facts.segments
    if s.empty:
        return "<p>No segments (marts.customer_segments was not built).</p>"
    shown = [scheme for scheme in ("value_tier", "life_cycle", "rfm") if scheme in set(s.scheme)]
    charts = "".join(f"<div>{segment_bars_svg(s, scheme)}</div>" for scheme in shown)
    m = facts.movements
    if m.empty:
        moves = "<p>No customer changed segment since the previous scoring date.</p>"
    else:
        rows = [
            [esc(r.scheme), esc(r.from_segment), esc(r.to_segment), _number(r.customers)]
            for r in m.itertuples()
        ]
        moves = "<h3>Largest movements since the previous date</h3>" + table(
            ["scheme", "from", "to", "customers"], rows, {3}
        )
    others = sorted(set(s.scheme) - set(shown))
    rest = [
        [esc(r.scheme), esc(r.segment), _number(r.customers), _number(r.moved_in)]
        for r in s[s.scheme.isin(others)].itertuples()
    ]
    details = (
        "<details><summary>Other schemes</summary>"
        + table(["scheme", "segment", "customers", "moved in"], rest, {2, 3})
        + "</details>"
    )
    return f"<div class='grid'>{charts}</div>{moves}{details}"


def _metrics(metrics: Mapping[str, Any]) -> str:
    parts = []
    for name, value in metrics.items():
        if isinstance(value, bool):
            parts.append(f"{esc(name)} = {'yes' if value else 'no'}")
        elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            parts.append(f"{esc(name)} = {value:,.0f}")
        elif isinstance(value, float):
            parts.append(f"{esc(name)} = {value:,.3f}")
        elif not isinstance(value, (dict, list)):
            parts.append(f"{esc(name)} = {esc(value)}")
    return "<br>".join(parts) or "<span class='muted'>none</span>"


def _is_wide(png: Path) -> bool:
    """A plot of two panels side by side (PNG header: width and height at bytes 16-24)."""
    header = png.read_bytes()[16:24]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    return width > 1.8 * height


def _models(run: RunFacts, facts: WarehouseFacts) -> str:
    rows = [
        [esc(m["model_name"]) + (" " + badge("passed", "chosen") if m.get("selected") else ""),
         esc(m["status"]), _number(m.get("customers")), esc(str(m.get("calibration_end") or "")[:10]),
         _metrics(m["holdout_metrics"]), f"<span class='muted'>{esc(m.get('notes') or '')}</span>"]
        for m in facts.models
    ]  # fmt: skip
    part = (
        table(["model", "status", "customers", "calibration end", "holdout", "notes"], rows, {2})
        if rows
        else "<p>No model was fitted in this run.</p>"
    )
    images = "".join(
        f"<figure class='{'wide' if _is_wide(p) else ''}'><img alt='{esc(p.stem)}' "
        f"src='{png_data_uri(p)}'><figcaption class='muted'>{esc(p.name)}</figcaption></figure>"
        for p in run.plots
        if p.exists()
    )
    return part + (f"<div class='plots'>{images}</div>" if images else "")


def _change(now: int | None, before: int | None) -> str:
    if now is None or before is None:
        return (
            "<span class='muted'>new</span>" if before is None else "<span class='down'>gone</span>"
        )
    if before == 0:
        return "<span class='muted'>=</span>" if now == 0 else "<span class='up'>from 0</span>"
    change = (now - before) / before
    if change == 0:
        return "<span class='muted'>=</span>"
    kind = "down" if change < -0.2 else "up" if change > 0 else ""
    return f"<span class='{kind}'>{change:+.1%}</span>"


def _row_counts(facts: WarehouseFacts) -> str:
    previous = facts.previous_counts
    last = previous[0][2] if previous else {}
    # changed tables first: they are what a reader looks for
    tables = sorted(
        set(facts.row_counts).union(*(counts for _, _, counts in previous)),
        key=lambda name: (bool(previous) and facts.row_counts.get(name) == last.get(name), name),
    )
    headers = ["table", "this run", *(f"as of {as_of}" for _, as_of, _ in previous)]
    if previous:
        headers.append("change")
    rows = []
    for name in tables:
        now = facts.row_counts.get(name)
        row = [esc(name), _number(now)]
        row += [_number(counts.get(name)) for _, _, counts in previous]
        if previous:
            row.append(_change(now, previous[0][2].get(name)))
        rows.append(row)
    intro = (
        "<p class='muted'>Rows per table now and after the previous published runs "
        "(meta.row_count_history). Falls of more than 20% are red.</p>"
        if previous
        else "<p class='muted'>No earlier published run to compare with yet.</p>"
    )
    return intro + table(headers, rows, set(range(1, len(headers))))


def _checks_and_steps(run: RunFacts) -> str:
    rows = [
        [esc(c["asset"]), esc(c["name"]),
         badge("passed") if c["passed"] else _severity(c)]
        for c in sorted(run.checks, key=lambda c: (c["passed"], c["asset"], c["name"]))
    ]  # fmt: skip
    steps = [[esc(s), _number(t, 1), badge("failed-step", "failed") if s in run.failed_steps
              else badge("passed", "ok")] for s, t in run.step_seconds.items()]  # fmt: skip
    steps += [[esc(s), "", badge("skipped", "not run")] for s in run.skipped_steps]
    return (
        f"<details><summary>All checks ({len(run.checks)})</summary>"
        + table(["table", "check", "result"], rows)
        + "</details><details><summary>Time per step</summary>"
        + table(["step", "seconds", "status"], steps, {1})
        + "</details>"
    )


def render_report(run: RunFacts, facts: WarehouseFacts) -> str:
    """The whole page."""
    notes = "".join(f"<li>{esc(n)}</li>" for n in [*run.notes, *facts.problems])
    sections = [
        ("What failed first", _first_failures(run) + (f"<ul>{notes}</ul>" if notes else "")),
        ("Rows per source (this run)", _sources(run, facts)),
        ("KPI trends", _kpis(facts)),
        ("Segments", _segments(facts)),
        ("Model validation (holdout)", _models(run, facts)),
        ("Rows per table against previous runs", _row_counts(facts)),
        ("Checks and steps", _checks_and_steps(run)),
    ]
    body = "".join(
        f"<section><h2>{esc(title)}</h2>{content}</section>" for title, content in sections
    )
    title = f"CIF run {esc(run.as_of)} {'ok' if run.ok else 'FAILED'}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style></head>"
        f"<body><main>{_header(run)}{body}</main></body></html>"
    )


def write_report(folder: Path, run_id: str, page: str) -> Path:
    """Write the page as `<folder>/<run_id>.html` and `<folder>/latest.html`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.html"
    path.write_text(page)
    (folder / "latest.html").write_text(page)
    return path
