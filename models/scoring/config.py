"""What a scoring run is configured with and what it reports, and where it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from models.clv import ClvAssumptions

SCHEMA = "scores"
SCORES_TABLE = "customer_scores"
MODEL_RUNS_TABLE = "model_runs"
# One row per scored date (customers, average CLV and risk): what the KPIs read, kept for ever
# while the per-customer scores of a past night are kept for a retention window (retention.py).
SUMMARY_TABLE = "score_summary"
# The dbt models scoring reads ("schema.model"): its upstream in the graph.
DBT_INPUTS = ("core.fct_transactions", "core.fct_interactions", "core.dim_customer")


@dataclass(frozen=True)
class ScoringConfig:
    holdout_days: int = 180
    time_unit_days: float = 1.0
    max_holdout_error_pct: float = 25.0
    min_attrition_auc: float = 0.6
    # Attrition = no purchase and no engagement in the next this many days.
    attrition_horizon_days: int = 180
    # The classifier scores the run only if its holdout AUC beats 1 - P(alive)'s by more.
    min_attrition_auc_uplift: float = 0.0
    assumptions: ClvAssumptions = field(default_factory=ClvAssumptions)
    # The models are refitted when their stored fit is this many days old (by as-of date), ...
    refit_every_days: int = 7
    # ... or when the stored purchase model's holdout error (its calibration fit predicting
    # the last holdout_days) moved this many percentage points from its error at the fit, ...
    refit_drift_pct: float = 10.0
    # ... or always (`cif run --full-refresh`); otherwise a night scores with the stored fit.
    force_refit: bool = False
    # Retention (retention.py; 0: keep for ever): every night's scores for this many days,
    # month-ends for ever; the model runs for this many days, and those the kept scores used.
    scores_keep_days: int = 0
    model_runs_keep_days: int = 0


@dataclass
class ScoringResult:
    customers_scored: int
    models: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    selected_model: str | None = None
    poor_fits: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    # Set when the attrition classifier lost to 1 - P(alive) on the holdout (the warning check
    # attrition_beats_baseline): why the baseline scored the run.
    attrition_fallback: str | None = None
    # Whether the models were refitted this run or a stored fit was reused, and why.
    refitted: bool = True
    refit_reason: str = ""
    # Why no customer could be scored tonight (too little history to fit the models): the
    # warning check scores_available. None: the run scored.
    unavailable: str | None = None
    # What retention removed tonight, in sentences for the run's log and summary.
    removed: list[str] = field(default_factory=list)

    @property
    def holdout_ok(self) -> bool:
        """No model failed its holdout threshold (the warning check of the asset)."""
        return not self.poor_fits
