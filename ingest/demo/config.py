"""The knobs of the demo generator: behaviour of the simulated population and rates of mess.

Every rate of real-world mess lives in `MessRates`, so that tests can check the generated data
against it and users can turn the mess up or down (`MessRates.none()` gives clean data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace

# Age groups (lower bound of age, share of primary household members) and channel preferences:
# the relative weight of branch, web and app purchases for people of that age.
AGE_GROUPS = ("18-29", "30-44", "45-64", "65+")
AGE_BOUNDS = ((18, 30), (30, 45), (45, 65), (65, 90))
AGE_SHARES = (0.20, 0.27, 0.33, 0.20)
CHANNEL_WEIGHTS = (  # branch, web, app
    (0.10, 0.30, 0.60),
    (0.20, 0.40, 0.40),
    (0.40, 0.45, 0.15),
    (0.75, 0.20, 0.05),
)
CALLS_PER_YEAR = (0.4, 0.8, 1.2, 2.0)
EMAIL_OPT_IN = (0.65, 0.60, 0.50, 0.35)
HAS_EMAIL = (0.99, 0.97, 0.90, 0.70)


@dataclass(frozen=True)
class MessRates:
    """Shares of real-world mess; each is checked by tests/test_generator.py.

    Unless said otherwise a rate is the share of eligible source records (record versions for
    name and field mess, rows for file mess) that get that kind of mess.
    """

    name_typo: float = 0.03  # a letter dropped, doubled or swapped in a first or last name
    nickname: float = 0.08  # a known nickname instead of the first name (names that have one)
    swapped_names: float = 0.01  # first and last name entered the wrong way round
    surname_change: float = 0.03  # people whose surname changes during the period (marriage)
    address_move: float = 0.10  # households that move during the period
    shared_email: float = 0.30  # partners (2nd member of a household) using the 1st's e-mail
    shared_phone: float = 0.40  # partners giving the household's landline as their phone
    second_account: float = 0.04  # people with a second customer record in the same system
    missing_field: float = 0.05  # optional fields (birth date, phone, address...) left blank
    duplicate_row: float = 0.01  # rows delivered twice (same file or a later one)
    late_arrival: float = 0.02  # rows that arrive in a later period's file
    malformed_row: float = 0.002  # rows that break their layout (bad date, number, JSON, ...)
    capture_change: float = 0.8  # share of life events (moves, new surname) a system records

    @classmethod
    def none(cls) -> MessRates:
        """Clean data: every mess rate zero (systems still record every life event)."""
        zero = {f.name: 0.0 for f in fields(cls)}
        zero["capture_change"] = 1.0
        return cls(**zero)

    def scaled(self, factor: float) -> MessRates:
        """Every mess rate times `factor` (capped at 1), for what-if benchmarks."""
        values = {
            f.name: min(1.0, getattr(self, f.name) * factor)
            for f in fields(self)
            if f.name != "capture_change"
        }
        return replace(self, **values)


@dataclass(frozen=True)
class PopulationSpec:
    """The simulated population: size, period and behaviour."""

    customers: int
    start: dt.date
    end: dt.date
    seed: int
    # BG/NBD heterogeneity (rates per day) and Gamma-Gamma spend
    r: float = 0.6
    alpha: float = 30.0
    a: float = 0.8
    b: float = 4.0
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 40.0
    # households: share of households with 1, 2 and 3 adults (3 = a grown-up child at home)
    household_sizes: tuple[float, float, float] = (0.55, 0.35, 0.10)
    # acquisition over time: the density of first purchases grows towards the end (1 = even)
    acquisition_growth: float = 1.5
    # life cycle beyond BG/NBD
    complaints_per_year: float = 0.12  # mean complaint rate of a customer while active
    complaint_churn: float = 0.45  # chance that a badly handled complaint makes them leave
    complaint_churn_handled: float = 0.10  # ... and a well handled one
    winback: float = 0.20  # share of lapsed customers who come back later
    winback_gap_days: tuple[int, int] = (60, 300)
    institution_share: float = 0.005  # business customers (key-account candidates)
    email_campaigns_per_month: int = 1
    email_audience_share: float = 0.3
    app_events_per_payment: float = 1.0
    file_period: str = "quarter"  # one file per entity and quarter (or "month")
    mess: MessRates = field(default_factory=MessRates)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1
