"""The one settings object: defaults, overridden by CIF_* environment variables, then by flags."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from ingest.privacy import ROLE_ENV, role_from_env
from ingest.warehouse import set_memory_limit

DEFAULT_LANDING = Path("landing")
DEFAULT_WAREHOUSE = Path("warehouse/cif.duckdb")
DEFAULT_EXPORTS = Path("exports")
# Where the dbt models run: the embedded DuckDB file, or Apache Spark through dbt-spark
# (orchestration/engines.py; README: Spark engine).
ENGINES = ("duckdb", "spark")
# How much memory DuckDB may hold before it spills to disk: a size ("6GB") or a share of the
# machine's memory. DuckDB's own default, 80%, let a cold run at 1M customers reach 10 GB on a
# 24 GB machine, Python's frames beside DuckDB's; a fifth leaves room for them (README:
# Measured, issue 15).
DEFAULT_MEMORY_LIMIT = "20%"
# How many days an as-of date's export stays after it was written (0: for ever). At 1M customers
# a night's export is about 1 GB: kept for ever, a nightly run fills a disk in months.
DEFAULT_EXPORT_KEEP_DAYS = 30
# Retention of what else grows with nights (orchestration/retention.py; 0: for ever): every
# night's scores for 35 days, so the segment history finds every night of the current month
# (month-ends stay for ever); model fits, quarantined records and the audit log for about a
# year; the run history (Dagster's runs, their logs and reports) for a quarter.
DEFAULT_SCORES_KEEP_DAYS = 35
DEFAULT_MODEL_RUNS_KEEP_DAYS = 400
DEFAULT_RUN_HISTORY_KEEP_DAYS = 90
DEFAULT_AUDIT_KEEP_DAYS = 400
DEFAULT_QUARANTINE_KEEP_DAYS = 400
# DuckDB names the catalog after the file: it must not shadow a schema of the warehouse.
RESERVED_NAMES = frozenset(
    {"raw", "meta", "quarantine", "staging", "intermediate", "core", "scores", "marts", "main"}
)


def _switch(value: str, name: str) -> bool:
    words = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
    if value.strip().lower() not in words:
        raise ValueError(f"{name} must be on or off, not {value!r}")
    return words[value.strip().lower()]


def _days(value: str, name: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"{name} must be a whole number of days (0: keep for ever), not {value!r}")
    return int(value)


def _vars(value: str) -> str:
    """A JSON object of dbt vars (checked here, so that a typo fails before the night)."""
    if value.strip() and not isinstance(_json_or_none(value), dict):
        raise ValueError(f"CIF_DBT_VARS must be a JSON object of dbt vars, not {value!r}")
    return value.strip()


def _json_or_none(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


def _keep_days(env: Mapping[str, str], name: str, default: int) -> int:
    return _days(env.get(name, "").strip() or str(default), name)


def check_memory_limit(value: str) -> None:
    """DuckDB itself judges the value, so that a typo fails here and not in the night's
    first step."""
    try:
        with duckdb.connect() as con:
            set_memory_limit(con, value)
    except duckdb.Error as error:
        raise ValueError(
            f"CIF_MEMORY_LIMIT must be a size such as 6GB or a share such as 25%, not {value!r}"
        ) from error


@dataclass(frozen=True)
class CifSettings:
    """Where the landing zone, warehouse and exports live, and the business date of a run."""

    landing: Path = DEFAULT_LANDING
    warehouse: Path = DEFAULT_WAREHOUSE
    exports: Path = DEFAULT_EXPORTS
    as_of: dt.date = field(default_factory=dt.date.today)
    as_known_at: dt.datetime | None = None  # only rows loaded by then are used (None: all)
    full_refresh: bool = False  # rebuild every derived table from raw
    role: str = "analyst"  # who is looking: agent, analyst or admin (ingest/privacy.py)
    nightly_cron: str = "0 2 * * *"  # when the schedule runs the nightly job
    timezone: str = "UTC"
    alert_command: str | None = None  # a shell command that receives each alert as JSON
    alert_webhook: str | None = None  # a URL each alert is POSTed to as JSON
    automation: bool = True  # the schedule and sensors start switched on under `cif ui`
    engine: str = "duckdb"  # where dbt builds the models: duckdb or spark
    memory_limit: str = DEFAULT_MEMORY_LIMIT  # DuckDB's buffer memory, e.g. 6GB or 25%
    export_keep_days: int = DEFAULT_EXPORT_KEEP_DAYS  # how long exports stay (0: for ever)
    # dbt vars over dbt_project.yml's for the run, as a JSON object, e.g. other currency_rates
    dbt_vars: str = ""
    scores_keep_days: int = DEFAULT_SCORES_KEEP_DAYS  # every night's scores (month-ends: ever)
    model_runs_keep_days: int = DEFAULT_MODEL_RUNS_KEEP_DAYS  # model fits and their artifacts
    run_history_keep_days: int = DEFAULT_RUN_HISTORY_KEEP_DAYS  # Dagster runs, logs, reports
    audit_keep_days: int = DEFAULT_AUDIT_KEEP_DAYS  # frontline lookups in the audit log
    quarantine_keep_days: int = DEFAULT_QUARANTINE_KEEP_DAYS  # rejected records (personal data)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> CifSettings:
        """Defaults < environment (CIF_LANDING, CIF_WAREHOUSE, CIF_EXPORTS, CIF_ROLE,
        CIF_NIGHTLY_CRON, CIF_TIMEZONE, CIF_ALERT_COMMAND, CIF_ALERT_WEBHOOK, CIF_AUTOMATION,
        CIF_ENGINE, CIF_MEMORY_LIMIT, CIF_EXPORT_KEEP_DAYS, CIF_DBT_VARS, CIF_SCORES_KEEP_DAYS,
        CIF_MODEL_RUNS_KEEP_DAYS, CIF_RUN_HISTORY_KEEP_DAYS, CIF_AUDIT_KEEP_DAYS,
        CIF_QUARANTINE_KEEP_DAYS) < explicit overrides.

        Overrides whose value is None are ignored, so CLI flags can be passed straight through.
        """
        env = os.environ if environ is None else environ
        settings = cls(
            landing=Path(env.get("CIF_LANDING", DEFAULT_LANDING)),
            warehouse=Path(env.get("CIF_WAREHOUSE", DEFAULT_WAREHOUSE)),
            exports=Path(env.get("CIF_EXPORTS", DEFAULT_EXPORTS)),
            role=role_from_env({ROLE_ENV: env.get(ROLE_ENV, "")}),
            nightly_cron=env.get("CIF_NIGHTLY_CRON", cls.nightly_cron),
            timezone=env.get("CIF_TIMEZONE", cls.timezone),
            alert_command=env.get("CIF_ALERT_COMMAND") or None,
            alert_webhook=env.get("CIF_ALERT_WEBHOOK") or None,
            automation=_switch(env.get("CIF_AUTOMATION", "on"), "CIF_AUTOMATION"),
            engine=env.get("CIF_ENGINE", cls.engine).strip().lower() or cls.engine,
            memory_limit=env.get("CIF_MEMORY_LIMIT", "").strip() or cls.memory_limit,
            export_keep_days=_keep_days(env, "CIF_EXPORT_KEEP_DAYS", cls.export_keep_days),
            scores_keep_days=_keep_days(env, "CIF_SCORES_KEEP_DAYS", cls.scores_keep_days),
            model_runs_keep_days=_keep_days(
                env, "CIF_MODEL_RUNS_KEEP_DAYS", cls.model_runs_keep_days
            ),
            run_history_keep_days=_keep_days(
                env, "CIF_RUN_HISTORY_KEEP_DAYS", cls.run_history_keep_days
            ),
            audit_keep_days=_keep_days(env, "CIF_AUDIT_KEEP_DAYS", cls.audit_keep_days),
            quarantine_keep_days=_keep_days(
                env, "CIF_QUARANTINE_KEEP_DAYS", cls.quarantine_keep_days
            ),
            dbt_vars=_vars(env.get("CIF_DBT_VARS", "")),
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
        if settings.engine not in ENGINES:
            raise ValueError(
                f"CIF_ENGINE must be one of {', '.join(ENGINES)}, not {settings.engine!r}"
            )
        check_memory_limit(settings.memory_limit)
        if settings.warehouse.stem in RESERVED_NAMES:
            raise ValueError(
                f"the warehouse file may not be called {settings.warehouse.name}: DuckDB would "
                f"confuse it with the schema {settings.warehouse.stem!r}; choose another name"
            )
        return settings

    @classmethod
    def in_folder(cls, root: Path, as_of: dt.date, **overrides: Any) -> CifSettings:
        """Settings for a whole site in one folder (landing/, wh/cif.duckdb, exports/), as
        tests and benchmarks lay it out; other settings stay at their defaults."""
        return cls(
            landing=root / "landing",
            warehouse=root / "wh" / "cif.duckdb",
            exports=root / "exports",
            as_of=as_of,
            **overrides,
        ).resolved()

    def resolved(self) -> CifSettings:
        """The same settings with absolute paths (Dagster and dbt run from other directories)."""
        return replace(
            self,
            landing=self.landing.expanduser().resolve(),
            warehouse=self.warehouse.expanduser().resolve(),
            exports=self.exports.expanduser().resolve(),
        )

    @property
    def run_vars(self) -> dict[str, Any]:
        """The dbt vars this run gives over dbt_project.yml's (CIF_DBT_VARS)."""
        return json.loads(self.dbt_vars) if self.dbt_vars else {}

    @property
    def alerts_file(self) -> Path:
        """Every alert is also appended here, whether or not a hook is configured."""
        return self.warehouse.parent / "alerts.jsonl"

    @property
    def reports_dir(self) -> Path:
        """One human-readable quality report per run."""
        return self.warehouse.parent / "reports"

    @property
    def audit_log(self) -> Path:
        """Every frontline lookup of personal data: who, when, which customer, which role."""
        return self.warehouse.parent / "audit" / "lookups.jsonl"

    @property
    def dagster_home(self) -> Path:
        """Run history lives beside the warehouse, so `cif run` and `cif ui` share it."""
        return self.warehouse.parent / ".dagster"
