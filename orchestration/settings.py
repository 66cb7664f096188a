"""The one settings object: defaults, overridden by CIF_* environment variables, then by flags."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_LANDING = Path("landing")
DEFAULT_WAREHOUSE = Path("warehouse/cif.duckdb")
DEFAULT_EXPORTS = Path("exports")
# DuckDB names the catalog after the file: it must not shadow a schema of the warehouse.
RESERVED_NAMES = frozenset(
    {"raw", "meta", "quarantine", "staging", "intermediate", "core", "scores", "marts", "main"}
)


@dataclass(frozen=True)
class CifSettings:
    """Where the landing zone, warehouse and exports live, and the business date of a run."""

    landing: Path = DEFAULT_LANDING
    warehouse: Path = DEFAULT_WAREHOUSE
    exports: Path = DEFAULT_EXPORTS
    as_of: dt.date = field(default_factory=dt.date.today)
    as_known_at: dt.datetime | None = None  # only rows loaded by then are used (None: all)
    full_refresh: bool = False  # rebuild every derived table from raw
    include_pii: bool = False

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> CifSettings:
        """Defaults < environment (CIF_LANDING, CIF_WAREHOUSE, CIF_EXPORTS) < explicit overrides.

        Overrides whose value is None are ignored, so CLI flags can be passed straight through.
        """
        env = os.environ if environ is None else environ
        settings = cls(
            landing=Path(env.get("CIF_LANDING", DEFAULT_LANDING)),
            warehouse=Path(env.get("CIF_WAREHOUSE", DEFAULT_WAREHOUSE)),
            exports=Path(env.get("CIF_EXPORTS", DEFAULT_EXPORTS)),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("landing", "warehouse", "exports"):
            if key in given:
                given[key] = Path(given[key])  # type: ignore[arg-type]
        if isinstance(given.get("as_of"), str):
            given["as_of"] = dt.date.fromisoformat(given["as_of"])  # type: ignore[arg-type]
        if isinstance(given.get("as_known_at"), str):
            given["as_known_at"] = dt.datetime.fromisoformat(given["as_known_at"])  # type: ignore[arg-type]
        settings = replace(settings, **given).resolved()
        if settings.warehouse.stem in RESERVED_NAMES:
            raise ValueError(
                f"the warehouse file may not be called {settings.warehouse.name}: DuckDB would "
                f"confuse it with the schema {settings.warehouse.stem!r}; choose another name"
            )
        return settings

    def resolved(self) -> CifSettings:
        """The same settings with absolute paths (Dagster and dbt run from other directories)."""
        return replace(
            self,
            landing=self.landing.expanduser().resolve(),
            warehouse=self.warehouse.expanduser().resolve(),
            exports=self.exports.expanduser().resolve(),
        )

    @property
    def dagster_home(self) -> Path:
        """Run history lives beside the warehouse, so `cif run` and `cif ui` share it."""
        return self.warehouse.parent / ".dagster"
