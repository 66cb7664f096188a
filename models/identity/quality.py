"""Matching quality against a known truth: pairwise precision, recall and F1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.identity.households import SHARED_EVIDENCE
from models.identity.linking import components
from models.identity.rules import reference_edges, star_edges


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


# Evidence that identifies a person when two of their records share it (see evidence_ceiling).
IDENTIFYING_EVIDENCE: dict[str, tuple[str, ...]] = {
    "national id": ("national_id",),
    "e-mail": ("email",),
    "phone": ("phone",),
    "full name and birth year": ("given", "surname", "birth_year"),
    "forename and birth date": ("given", "date_of_birth"),
    "full name and postcode": ("given", "surname", "postcode_key"),
}


# Evidence that two people live together (as models/identity/households.py uses it).
HOUSEHOLD_EVIDENCE: dict[str, tuple[str, ...]] = {
    **SHARED_EVIDENCE,
    "joint_account": ("account_id",),
}


def _shared_edges(frame: pd.DataFrame, group: str, evidence: dict) -> tuple[list, list]:
    """Edges between positions of `frame` in one `group` sharing a value of `evidence`."""
    edges = [star_edges(frame, [group, *fields], "pos") for fields in evidence.values()]
    return [left for left, _ in edges], [right for _, right in edges]


def evidence_ceiling(
    records: pd.DataFrame, truth: pd.DataFrame, holders: pd.DataFrame | None = None
) -> dict[str, PairwiseScore]:
    """The best person and household scores a matcher can reach on this data: an oracle that
    knows the truth but links two records of one person only when they share identifying
    evidence (IDENTIFYING_EVIDENCE, directly or through the person's other records, or the
    customer number of another system), and two people into one household only through household
    evidence (HOUSEHOLD_EVIDENCE; joint accounts from `holders`: source_system,
    source_customer_id, account_id). Records with nothing in common with the rest of their
    person stay apart. `records` is models.identity.records.load_records' frame."""
    keys = ["source_system", "source_customer_id"]
    truth = truth.assign(source_customer_id=truth.source_customer_id.astype(str))
    frame = records.merge(
        truth[[*keys, "person_id", "household_id"]], on=keys, how="inner"
    ).reset_index(drop=True)
    frame["pos"] = range(len(frame))
    left, right = _shared_edges(frame, "person_id", IDENTIFYING_EVIDENCE)
    if "referenced_customer_id" in frame:
        named, naming = reference_edges(frame)
        same = frame.person_id.to_numpy()[named] == frame.person_id.to_numpy()[naming]
        left.append(named[same])
        right.append(naming[same])
    frame["oracle"] = components(len(frame), np.concatenate(left), np.concatenate(right))
    scores = {"person": pairwise_score(frame, "oracle", "person_id")}
    accounts = frame.assign(account_id=None)
    if holders is not None and len(holders):
        accounts = frame.merge(holders[[*keys, "account_id"]], on=keys, how="left")
    shared = pd.concat(
        [frame[frame.party_type == "person"], accounts.dropna(subset=["account_id"])],
        ignore_index=True,
    )
    hl, hr = _shared_edges(shared, "household_id", HOUSEHOLD_EVIDENCE)
    frame["household_oracle"] = components(
        len(frame), np.concatenate([*left, *hl]), np.concatenate([*right, *hr])
    )
    scores["household"] = pairwise_score(frame, "household_oracle", "household_id")
    return scores
