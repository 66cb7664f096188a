"""The simulated population behind the demo source systems: people, households, behaviour.

Purchases follow the BG/NBD story (Fader, Hardie & Lee 2005): while alive, a customer buys at a
Poisson rate drawn from a gamma distribution; after each purchase they drop out with a
probability drawn from a beta distribution. Spend per purchase follows Gamma-Gamma.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIRST_NAMES = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Deborah",
    "Ronald",
    "Stephanie",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Turner",
    "Phillips",
]
STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Birch",
    "Willow",
    "Ash",
    "Cherry",
    "Walnut",
    "Chestnut",
    "Poplar",
]
CITIES = ("Springfield", "Riverton", "Lakeside", "Hillview", "Brookfield", "Fairmont")


@dataclass(frozen=True)
class PopulationSpec:
    customers: int
    start: dt.date
    end: dt.date
    seed: int
    # BG/NBD heterogeneity (per day) and Gamma-Gamma spend
    r: float = 0.6
    alpha: float = 30.0
    a: float = 0.8
    b: float = 4.0
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 40.0


def simulate_people(spec: PopulationSpec, rng: np.random.Generator) -> pd.DataFrame:
    """One row per true person with identity, household and behavioural parameters."""
    n = spec.customers
    days = (spec.end - spec.start).days
    person_id = np.arange(1, n + 1)
    # Households: about 30% of people share a household with the previous person (couples).
    joins_previous = rng.random(n) < 0.3
    joins_previous[0] = False
    household_id = np.cumsum(~joins_previous)
    last_idx = rng.integers(0, len(LAST_NAMES), n)
    for i in np.flatnonzero(joins_previous):
        last_idx[i] = last_idx[i - 1]
    street_no = rng.integers(1, 400, n)
    street_idx = rng.integers(0, len(STREETS), n)
    city_idx = rng.integers(0, len(CITIES), n)
    for i in np.flatnonzero(joins_previous):
        street_no[i], street_idx[i], city_idx[i] = (
            street_no[i - 1],
            street_idx[i - 1],
            city_idx[i - 1],
        )
    age_days = rng.integers(18 * 365, 90 * 365, n)
    dob = pd.to_datetime(spec.end) - pd.to_timedelta(age_days, unit="D")
    acquired = pd.to_datetime(spec.start) + pd.to_timedelta(
        rng.integers(0, max(days, 1), n), unit="D"
    )
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES)[last_idx]
    people = pd.DataFrame(
        {
            "person_id": person_id,
            "household_id": household_id,
            "first_name": first,
            "last_name": last,
            "date_of_birth": dob.date,
            "national_id": [f"{900000000 + int(p) * 7919 % 99999989:09d}" for p in person_id],
            "email": [
                f"{f.lower()}.{s.lower()}{p}@example.com"
                for f, s, p in zip(first, last, person_id, strict=True)
            ],
            "phone": [f"+4470{(p * 104729) % 100000000:08d}" for p in person_id],
            "address_line": [
                f"{no} {STREETS[s]} Street" for no, s in zip(street_no, street_idx, strict=True)
            ],
            "city": np.array(CITIES)[city_idx],
            "postcode": [
                f"{c + 1:02d}{no % 90 + 10:02d}" for c, no in zip(city_idx, street_no, strict=True)
            ],
            "acquired_on": acquired.date,
            "purchase_rate": rng.gamma(spec.r, 1.0 / spec.alpha, n),
            "dropout_p": rng.beta(spec.a, spec.b, n),
            "spend_scale": spec.spend_gamma / rng.gamma(spec.spend_q, 1.0, n),
        }
    )
    return people


def simulate_purchases(
    people: pd.DataFrame, spec: PopulationSpec, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.Series]:
    """Purchases per person (BG/NBD process) and each person's true death date (NaT if alive)."""
    end = pd.Timestamp(spec.end)
    person_ids: list[np.ndarray] = []
    dates: list[np.ndarray] = []
    died = pd.Series(pd.NaT, index=people.person_id, dtype="datetime64[ns]")
    for row in people.itertuples(index=False):
        t = pd.Timestamp(row.acquired_on)
        horizon = (end - t).days
        times = [0.0]
        clock = 0.0
        while True:  # dropout is possible after each repeat purchase (BG/NBD)
            clock += rng.exponential(1.0 / max(row.purchase_rate, 1e-6))
            if clock > horizon:
                break
            times.append(clock)
            if rng.random() < row.dropout_p:
                died[row.person_id] = t + pd.Timedelta(days=clock)
                break
        person_ids.append(np.full(len(times), row.person_id))
        dates.append(np.array([(t + pd.Timedelta(days=float(x))).normalize() for x in times]))
    pid = np.concatenate(person_ids)
    scale = people.set_index("person_id").spend_scale.reindex(pid).to_numpy()
    amount = np.round(rng.gamma(spec.spend_p, scale / spec.spend_p), 2) + 1.0
    purchases = pd.DataFrame(
        {"person_id": pid, "occurred_on": np.concatenate(dates), "amount": amount}
    )
    return purchases.sort_values(["occurred_on", "person_id"], kind="stable").reset_index(
        drop=True
    ), died
