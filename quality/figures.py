"""Key figures of a warehouse, for run summaries and reports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from ingest.warehouse import connection
from quality.charts import png_data_uri


def customers_in_360(warehouse: Path) -> int | None:
    """Customers in the published customer 360 (None if there is none yet, or the file is
    being written)."""
    if not warehouse.exists():
        return None
    try:
        with connection(warehouse, read_only=True) as con:
            row = con.execute("select count(*) from marts.customer_360").fetchone()
            return int(row[0]) if row else 0
    except duckdb.Error:  # no marts yet, or the file is locked by a writer
        return None


def key_figures(models: Iterable[Mapping[str, Any]]) -> dict[str, int | float]:
    """Each fitted model's numeric holdout metrics as `<model>.<metric>`: numbers Dagster can
    plot across runs."""
    figures = {}
    for model in models:
        metrics = model.get("holdout_metrics") or {}
        if isinstance(metrics, str):
            metrics = json.loads(metrics)
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                figures[f"{model['model_name']}.{name}"] = value
    return figures


def plots_markdown(plots: Iterable[Path]) -> str:
    """The plots as Markdown with the images inline (data URIs): Dagster's UI shows them
    without access to the files."""
    parts = [
        f"**{path.stem.replace('_', ' ')}**\n\n![{path.stem}]({png_data_uri(path)})"
        for path in plots
        if path.exists()
    ]
    return "\n\n".join(parts) or "no plots were written"
