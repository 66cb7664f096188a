"""Scoring, the model step between the dbt core and the marts: CLV (lifetimes) and attrition
risk for every customer as of the run's date (run.py conducts the steps)."""

from models.scoring.attrition_step import ATTRITION_BASELINE, ATTRITION_MODEL
from models.scoring.config import (
    DBT_INPUTS,
    MODEL_RUNS_TABLE,
    SCHEMA,
    SCORES_TABLE,
    SUMMARY_TABLE,
    ScoringConfig,
    ScoringResult,
)
from models.scoring.run import run_scoring
from models.scoring.store import ensure_scores_schema

__all__ = [
    "ATTRITION_BASELINE",
    "ATTRITION_MODEL",
    "DBT_INPUTS",
    "MODEL_RUNS_TABLE",
    "SCHEMA",
    "SCORES_TABLE",
    "SUMMARY_TABLE",
    "ScoringConfig",
    "ScoringResult",
    "ensure_scores_schema",
    "run_scoring",
]
