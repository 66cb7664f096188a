"""The expectation suites, one function per table. Blocking suites stop what depends on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Suite:
    name: str
    schema: str
    table: str
    blocking: bool
    description: str

    def expectations(self) -> list[Any]:
        return SUITE_BUILDERS[self.name]()


def _customer_360() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectColumnValuesToNotBeNull(column="customer_key"),
        e.ExpectColumnValuesToBeUnique(column="customer_key"),
        e.ExpectColumnValuesToNotBeNull(column="household_key"),
        e.ExpectColumnValuesToBeBetween(column="p_alive", min_value=0, max_value=1, mostly=1.0),
        e.ExpectColumnValuesToBeBetween(column="clv_gross_12m", min_value=0),
        e.ExpectColumnValuesToBeInSet(
            column="value_segment",
            value_set=["prospect", "top value", "mid value", "low value", "not scored"],
        ),
    ]


def _customer_identity_map() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectColumnValuesToNotBeNull(column="customer_key"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["source_system", "source_customer_id"]),
    ]


SEGMENT_SCHEMES = [
    "rfm",
    "value_tier",
    "life_cycle",
    "age_band",
    "preferred_channel",
    "channel_mix",
]


def _customer_segments() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectColumnValuesToNotBeNull(column="customer_key"),
        e.ExpectColumnValuesToNotBeNull(column="segment"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["customer_key", "scheme"]),
        e.ExpectColumnValuesToBeInSet(column="scheme", value_set=SEGMENT_SCHEMES),
        e.ExpectColumnDistinctValuesToEqualSet(column="scheme", value_set=SEGMENT_SCHEMES),
    ]


def _key_accounts() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    # No minimum row count: a source without transactions (or a small firm) has no key
    # account, and a blocking check must not demand rows the data cannot produce.
    return [
        e.ExpectColumnValuesToBeUnique(column="customer_key"),
        e.ExpectColumnValuesToNotBeNull(column="key_criteria"),
        e.ExpectColumnValueLengthsToBeBetween(column="key_criteria", min_value=1),
        e.ExpectColumnValuesToBeInSet(column="customer_type", value_set=["person", "institution"]),
    ]


def _key_account_performance() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectCompoundColumnsToBeUnique(column_list=["ka_id", "period"]),
        e.ExpectColumnValuesToBeBetween(column="revenue_attainment", min_value=0, mostly=0.95),
        e.ExpectColumnValuesToBeBetween(column="period_elapsed_share", min_value=0, max_value=1),
    ]


def _kpi_daily() -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1),
        e.ExpectColumnValuesToBeUnique(column="kpi_date"),
        e.ExpectColumnValuesToBeBetween(column="active_customers", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="retention_rate_30d", min_value=0, max_value=1),
        e.ExpectColumnValuesToBeBetween(column="complaint_rate", min_value=0, max_value=1),
    ]


SUITE_BUILDERS = {
    "customer_360": _customer_360,
    "customer_identity_map": _customer_identity_map,
    "customer_segments": _customer_segments,
    "key_accounts": _key_accounts,
    "key_account_performance": _key_account_performance,
    "kpi_daily": _kpi_daily,
}

SUITES = (
    Suite(
        "customer_identity_map",
        "core",
        "customer_identity_map",
        blocking=True,
        description="every source record maps to exactly one customer key",
    ),
    Suite(
        "customer_360",
        "marts",
        "customer_360",
        blocking=True,
        description="one row per customer with valid keys, scores and segments",
    ),
    Suite(
        "customer_segments",
        "marts",
        "customer_segments",
        blocking=True,
        description="one row per customer and scheme, every scheme present",
    ),
    Suite(
        "key_accounts",
        "marts",
        "key_accounts",
        blocking=True,
        description="unique key accounts, each with the criteria that made it key",
    ),
    Suite(
        "key_account_performance",
        "marts",
        "key_account_performance",
        blocking=False,
        description="one row per key account and quarter with plausible attainment",
    ),
    Suite(
        "kpi_daily",
        "marts",
        "kpi_daily",
        blocking=False,
        description="one row per day with rates between 0 and 1",
    ),
)
