"""Matching quality against a known truth: pairwise precision, recall and F1."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PairwiseScore:
    precision: float
    recall: float
    f1: float
    predicted_groups: int
    true_groups: int


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_score(frame: pd.DataFrame, predicted: str, truth: str) -> PairwiseScore:
    """Pairwise scores of grouping `predicted` against grouping `truth` (columns of `frame`)."""
    predicted_pairs = _pairs(frame.groupby(predicted).size())
    true_pairs = _pairs(frame.groupby(truth).size())
    both = _pairs(frame.groupby([predicted, truth]).size())
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScore(
        precision, recall, f1, int(frame[predicted].nunique()), int(frame[truth].nunique())
    )


def score_against_truth(
    identity_map: pd.DataFrame, households: pd.DataFrame | None, truth: pd.DataFrame
) -> dict[str, PairwiseScore]:
    """Person (and household) scores of an identity map against `_truth/customers.csv`."""
    keys = ["source_system", "source_customer_id"]
    truth = truth.assign(source_customer_id=truth.source_customer_id.astype(str))
    frame = identity_map[[*keys, "customer_key"]].merge(truth, on=keys, how="inner")
    scores = {"person": pairwise_score(frame, "customer_key", "person_id")}
    if households is not None:
        frame = frame.merge(households[["customer_key", "household_key"]], on="customer_key")
        scores["household"] = pairwise_score(frame, "household_key", "household_id")
    return scores
