"""`cif generate`: deterministic, messy multi-channel landing data with its ground truth aside."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.demo.population import PopulationSpec, simulate_people, simulate_purchases

TRUTH_DIR = "_truth"


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    files: list[Path]
    people: int
    rows: int


def _write_csv(df: pd.DataFrame, path: Path, sep: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, sep=sep, lineterminator="\n")
    return path


def _branch_customers(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Core banking customer master: its own numbers, German-style dates, a few broken rows."""
    df = pd.DataFrame(
        {
            "CUST_NO": [f"B{p:08d}" for p in people.person_id],
            "NATL_ID": people.national_id,
            "FIRST_NM": people.first_name.str.upper(),
            "LAST_NM": people.last_name.str.upper(),
            "BIRTH_DT": pd.to_datetime(people.date_of_birth).dt.strftime("%d.%m.%Y"),
            "STREET": people.address_line,
            "CITY": people.city,
            "ZIP": people.postcode,
            "EMAIL": people.email,
            "PHONE": people.phone.str.replace("+44", "0", regex=False),
            "CHG_TS": pd.to_datetime(people.acquired_on).dt.strftime("%Y-%m-%d 09:00:00"),
        }
    )
    broken = rng.random(len(df)) < 0.002
    df.loc[broken, "BIRTH_DT"] = "31.02.19xx"
    return df


def _branch_transactions(purchases: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "TXN_REF": [f"T{i:010d}" for i in range(1, len(purchases) + 1)],
            "CUST_NO": [f"B{p:08d}" for p in purchases.person_id],
            "BOOK_DT": pd.to_datetime(purchases.occurred_on).dt.strftime("%d.%m.%Y"),
            "AMT": purchases.amount.map(lambda x: f"{x:.2f}".replace(".", ",")),
            "CCY": "EUR",
            "TXN_TYPE": "PURCHASE",
        }
    )


def generate(
    out: Path,
    customers: int = 2000,
    start: dt.date | None = None,
    end: dt.date | None = None,
    seed: int = 7,
) -> GenerationSummary:
    """Write the demo landing zone to `out` (same seed, same bytes) and the truth to `_truth/`."""
    end = end or dt.date.today() - dt.timedelta(days=1)
    start = start or end - dt.timedelta(days=730)
    if start >= end:
        raise ValueError(f"--start {start} must be before --end {end}")
    spec = PopulationSpec(customers=customers, start=start, end=end, seed=seed)
    rng = np.random.default_rng(seed)
    people = simulate_people(spec, rng)
    purchases, died = simulate_purchases(people, spec, rng)
    stamp = end.strftime("%Y%m%d")
    files = [
        _write_csv(
            _branch_customers(people, rng),
            out / "branch" / "customers" / f"cust_{stamp}.csv",
            sep=";",
        ),
        _write_csv(
            _branch_transactions(purchases),
            out / "branch" / "transactions" / f"txn_{stamp}.csv",
            sep=";",
        ),
    ]
    truth = people[["person_id", "household_id", "acquired_on"]].assign(
        died_on=died.reindex(people.person_id).dt.date.to_numpy(),
        source_system="branch",
        source_customer_id=[f"B{p:08d}" for p in people.person_id],
    )
    files.append(_write_csv(truth, out / TRUTH_DIR / "customers.csv"))
    rows = len(people) + len(purchases)
    return GenerationSummary(out=out, files=files, people=len(people), rows=rows)
