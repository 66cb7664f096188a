"""Real-world mess applied to clean records: typos, nicknames, swapped and missing fields.

Each function takes a numpy Generator and returns the changed values and which rows changed,
so that the generator can log how much of each kind of mess it applied (`_truth/mess.csv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NICKNAMES = {
    "James": "Jim",
    "John": "Jack",
    "Robert": "Bob",
    "Michael": "Mike",
    "William": "Bill",
    "David": "Dave",
    "Richard": "Rick",
    "Joseph": "Joe",
    "Thomas": "Tom",
    "Charles": "Charlie",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Donald": "Don",
    "Steven": "Steve",
    "Andrew": "Andy",
    "Joshua": "Josh",
    "Kenneth": "Ken",
    "Edward": "Ed",
    "Ronald": "Ron",
    "Patricia": "Pat",
    "Jennifer": "Jenny",
    "Elizabeth": "Liz",
    "Barbara": "Babs",
    "Susan": "Sue",
    "Jessica": "Jess",
    "Margaret": "Maggie",
    "Kimberly": "Kim",
    "Deborah": "Debbie",
    "Stephanie": "Steph",
    "Michelle": "Shelly",
    "Amanda": "Mandy",
    "Melissa": "Mel",
    "Sandra": "Sandy",
    "Rebecca": "Becky",
}


@dataclass
class MessLog:
    """How much of each kind of mess was applied: rows (system, entity, kind, eligible, applied)."""

    rows: list[tuple[str, str, str, int, int]] = field(default_factory=list)

    def add(self, system: str, entity: str, kind: str, eligible: int, applied: int) -> None:
        self.rows.append((system, entity, kind, int(eligible), int(applied)))

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["system", "entity", "kind", "eligible", "applied"])
        df = df.groupby(["system", "entity", "kind"], as_index=False, sort=True).sum()
        df["rate"] = (df.applied / df.eligible.where(df.eligible > 0)).round(5)
        return df


def typo(word: str, r: float) -> str:
    """One keyboard slip: a letter dropped, doubled or two letters swapped (r picks which)."""
    if len(word) < 3:
        return word + word[-1:]
    i = 1 + int(r * 1000) % (len(word) - 2)
    kind = int(r * 3)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if word[i] == word[i + 1]:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def name_mess(
    first: np.ndarray,
    last: np.ndarray,
    eligible: np.ndarray,
    rates,
    u: np.ndarray,
    log: MessLog,
    system: str,
    entity: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Nicknames, typos and swapped names on the `eligible` rows (persons' records).

    `u` holds 5 uniform numbers per row; rows of the same record share them, so every version
    of a record carries the same slip.
    """
    first, last = first.astype(object).copy(), last.astype(object).copy()
    has_nick = eligible & pd.Series(first).isin(list(NICKNAMES)).to_numpy()
    nick = has_nick & (u[:, 0] < rates.nickname)
    first[nick] = pd.Series(first[nick]).map(NICKNAMES).to_numpy()
    log.add(system, entity, "nickname", has_nick.sum(), nick.sum())
    typo_rows = eligible & (u[:, 1] < rates.name_typo)
    for i in np.flatnonzero(typo_rows):
        if u[i, 2] < 0.5:
            last[i] = typo(last[i], u[i, 3])
        else:
            first[i] = typo(first[i], u[i, 3])
    log.add(system, entity, "name_typo", eligible.sum(), typo_rows.sum())
    swap = eligible & (u[:, 4] < rates.swapped_names)
    first[swap], last[swap] = last[swap], first[swap].copy()
    log.add(system, entity, "swapped_names", eligible.sum(), swap.sum())
    return first, last


def blank_fields(
    df: pd.DataFrame,
    columns: list[str],
    rate: float,
    rng: np.random.Generator,
    log: MessLog,
    system: str,
    entity: str,
    record: np.ndarray | None = None,
) -> None:
    """Leave optional fields empty (in place), each independently at `rate`.

    With `record` (the record number of each row) a field is left empty in every version of
    the record or in none."""
    if record is None:
        draws = rng.random((len(df), len(columns)))
    else:
        draws = rng.random((int(record.max()) + 1 if len(record) else 0, len(columns)))[record]
    for j, col in enumerate(columns):
        present = df[col].notna().to_numpy()
        hit = present & (draws[:, j] < rate)
        df.loc[hit, col] = None
        log.add(system, entity, "missing_field", present.sum(), hit.sum())
