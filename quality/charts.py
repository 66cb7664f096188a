"""Charts for the run report, as inline SVG (matplotlib, Agg backend) and images as data URIs:
the report is one file that opens anywhere, without a server or a network."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller, selectable, the page's font
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML


def trend_svg(days: pd.Series, values: pd.Series, title: str, percent: bool = False) -> str:
    """One KPI over the whole period of `days`, its last value written at the end of the line
    (a KPI known on a few days only, such as CLV on scored days, is drawn as points)."""
    fig, ax = plt.subplots(figsize=(3.7, 2.1))
    span = pd.to_datetime(days)
    frame = pd.DataFrame({"day": span, "value": pd.to_numeric(values, errors="coerce")}).dropna()
    sparse = len(frame) < 20
    ax.plot(frame.day, frame.value, color="#1f5f99", linewidth=1.2,
            marker="o" if sparse else None, markersize=3)  # fmt: skip
    if len(span):
        ax.set_xlim(span.min(), span.max() + (span.max() - span.min()) * 0.08)
    if percent:
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    else:
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    locator = mdates.MonthLocator(bymonth=(1, 7))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    if frame.empty:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", color="#888")
    else:
        last = frame.iloc[-1]
        label = f"{last.value:.1%}" if percent else f"{last.value:,.0f}"
        ax.annotate(label, (last.day, last.value), textcoords="offset points", xytext=(3, 0),
                    va="center", fontsize=8, color="#1f5f99")  # fmt: skip
    return _svg(fig)


def segment_bars_svg(segments: pd.DataFrame, scheme: str) -> str:
    """Customers per segment of one scheme, largest first."""
    rows = segments[segments.scheme == scheme].sort_values("customers")
    fig, ax = plt.subplots(figsize=(4.6, 0.35 * len(rows) + 0.7))
    bars = ax.barh(rows.segment.astype(str), rows.customers, color="#6a9fcf")
    ax.bar_label(bars, labels=[f"{v:,}" for v in rows.customers], padding=3, fontsize=8)
    ax.set_title(scheme.replace("_", " "), loc="left", fontsize=10)
    ax.xaxis.set_visible(False)
    ax.spines["bottom"].set_visible(False)
    return _svg(fig)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
