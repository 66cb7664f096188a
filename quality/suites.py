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
            column="value_segment", value_set=["prospect", "top value", "mid value", "low value"]
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


SUITE_BUILDERS = {
    "customer_360": _customer_360,
    "customer_identity_map": _customer_identity_map,
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
)
