"""`cif customer show`: one customer as the frontline needs them, as of a date, as a role may see.

Everything dated (golden-record version, account roles, transactions, interactions, complaints,
scores, segments) is read as it stood at the end of the as-of date; the next step, key-account
status and attrition reason come from the marts of the published run (their as-of date is
shown). Personal values pass through ingest.privacy's rules for the role, written into the SQL,
so what a role may not see never leaves the warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb

from ingest.privacy import Hasher, masked_sql

RECENT = 10  # transactions and interactions shown
GOLDEN = ["first_name", "last_name", "email", "phone", "date_of_birth", "national_id"]
ADDRESS = ["address_line", "postcode", "city", "country"]
SCORES = [
    "as_of_date",
    "clv_net_12m",
    "clv_net_36m",
    "clv_gross_36m",
    "p_alive",
    "attrition_risk",
    "expected_purchases_365d",
]


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]) -> list[dict]:
    cursor = con.execute(sql, dict(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class CustomerView:
    """The queries of one lookup, sharing the role's masking and the as-of cut-off."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        kinds: Mapping[str, str],
        role: str,
        key: bytes,
        as_of: dt.date | None,
    ) -> None:
        self.con = con
        self.kinds = kinds  # customer_360's declaration: column -> kind
        self.role = role
        self.hasher = Hasher(key)
        self.published = self.published_as_of()  # the run whose verdicts are shown
        self.as_of = as_of or self.published
        self.cutoff = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())

    def published_as_of(self) -> dt.date:
        row = self.con.execute("select max(as_of_date) from marts.key_accounts").fetchone()
        if row and row[0]:
            return row[0]
        row = self.con.execute("select max(as_of_date) from scores.customer_scores").fetchone()
        if row and row[0]:
            return row[0]
        try:  # a young firm: no key account and no scores yet, but the run's own date
            row = self.con.execute("select max(as_of) from meta.run_context").fetchone()
        except duckdb.CatalogException:
            row = None
        return row[0] if row and row[0] else dt.date.today()

    def select(self, columns: list[str], prefix: str = "") -> str:
        """Columns of customer_360's meaning, as the role may see them."""
        parts = [
            masked_sql(f"{prefix}{c}", c, self.kinds.get(c), self.role, self.hasher)
            for c in columns
        ]
        return ", ".join(p for p in parts if p)

    def q(self, sql: str, **params: Any) -> list[dict]:
        if "$cutoff" in sql:
            params["cutoff"] = self.cutoff
        return rows(self.con, sql, params)

    def current_key(self, key: int) -> int | None:
        found = self.q(
            "select current_customer_key from core.customer_key_lookup where customer_key = $k",
            k=key,
        )
        return int(found[0]["current_customer_key"]) if found else None

    def golden(self, key: int) -> dict:
        found = self.q(
            f"select {self.select(GOLDEN + ADDRESS)}, valid_from from core.dim_customer "
            "where customer_key = $k and valid_from < $cutoff "
            # one version is valid at a time; without `limit` DuckDB reads the table once
            "and (valid_to is null or valid_to >= $cutoff) order by valid_from desc",
            k=key,
        )
        return found[0] if found else {}

    def identifiers(self, key: int) -> list[dict]:
        ident = masked_sql(
            "source_system || ':' || source_customer_id",
            "identifier",
            self.kinds.get("source_identifiers"),
            self.role,
            self.hasher,
        )
        return self.q(
            f"select source_system, {ident}, match_rule, first_seen_at "
            "from core.customer_identity_map where customer_key = $k "
            "and coalesce(first_seen_at, resolved_at) < $cutoff order by source_system, 2",
            k=key,
        )

    def household(self, key: int) -> dict:
        found = self.q(
            "select household_key, household_rule from core.customer_household "
            "where customer_key = $k",
            k=key,
        )
        if not found:
            return {"household_key": key, "household_rule": "alone", "members": []}
        house = found[0]
        house["members"] = self.members(house["household_key"])
        return house

    def members(self, household_key: int) -> list[dict]:
        return self.q(
            f"select h.customer_key, h.household_rule, {self.select(['first_name', 'last_name'], 'd.')}"
            " from core.customer_household h left join core.dim_customer d "
            "on d.customer_key = h.customer_key and d.is_current "
            "where h.household_key = $h order by h.customer_key",
            h=household_key,
        )

    def accounts(self, key: int) -> list[dict]:
        """Accounts the customer held a role on at the cut-off, with every holder's role."""
        return self.q(
            "select distinct account_id, product, holder_key as customer_key, holder_role, opened_on, "
            "closed_on, holder_key = $k as is_this_customer from frontline.customer_accounts "
            "where customer_key = $k and customer_valid_from < $cutoff "
            "and (customer_valid_to is null or customer_valid_to >= $cutoff) "
            "and valid_from < $cutoff and (valid_to is null or valid_to >= $cutoff) "
            "order by account_id, holder_key = $k desc, holder_role",
            k=key,
        )

    def transactions(self, key: int) -> list[dict]:
        return self.q(
            # the amount as the customer paid it: the agent talks in the customer's currency
            "select occurred_at, original_amount as amount, original_currency as currency, "
            "channel, product, source_system "
            "from core.fct_transactions where customer_key = $k and occurred_at < $cutoff "
            "order by occurred_at desc, transaction_id limit $n",
            k=key,
            n=RECENT,
        )

    def interactions(self, key: int) -> list[dict]:
        return self.q(
            "select occurred_at, channel, interaction_type, is_complaint, satisfaction "
            "from core.fct_interactions where customer_key = $k and occurred_at < $cutoff "
            "order by occurred_at desc, interaction_id limit $n",
            k=key,
            n=RECENT,
        )

    def complaints(self, key: int) -> list[dict]:
        """Every complaint up to the cut-off, open ones first (resolved after it counts open)."""
        return self.q(
            "select occurred_at, channel, interaction_type, "
            "case when resolved_at < $cutoff then resolved_at end as resolved_at, "
            "resolved_at is null or resolved_at >= $cutoff as is_open, satisfaction "
            "from core.fct_interactions where customer_key = $k and is_complaint "
            "and occurred_at < $cutoff order by is_open desc, occurred_at desc",
            k=key,
        )

    def segments(self, key: int) -> list[dict]:
        return self.q(
            "select scheme, segment, valid_from as segment_since "
            "from marts.customer_segment_history where customer_key = $k "
            "and valid_from <= cast($cutoff as date) - 1 "
            "and (valid_to is null or valid_to > cast($cutoff as date) - 1) order by scheme",
            k=key,
        )

    def scores(self, key: int) -> dict:
        """The latest scores up to the cut-off (all None before the customer was first scored)."""
        found = self.q(
            f"select {', '.join(SCORES)} from scores.customer_scores where customer_key = $k "
            "and as_of_date < cast($cutoff as date) order by as_of_date desc limit 1",
            k=key,
        )
        return found[0] if found else dict.fromkeys(SCORES)

    def run_verdicts(self, key: int) -> dict:
        """The published run's next step, attrition reason and key-account status."""
        found = self.q(
            "select n.next_step, n.next_step_rule, n.next_step_reason, n.attrition_reason, "
            "n.risk_level, c.value_segment, c.clv_percentile, c.is_key_account, "
            "k.key_criteria, k.current_period, k.revenue_target, k.revenue_actual, "
            "k.revenue_attainment, k.products_target, k.products_actual "
            "from marts.customer_360 c left join marts.customer_next_steps n using (customer_key) "
            "left join marts.key_accounts k using (customer_key) where c.customer_key = $k",
            k=key,
        )
        return {**(found[0] if found else {}), "as_of_date": self.published}


def show(
    con: duckdb.DuckDBPyConnection,
    customer_key: int,
    kinds: Mapping[str, str],
    role: str,
    key: bytes,
    as_of: dt.date | None = None,
) -> dict | None:
    """Everything the frontline shows of one customer (None: no such key, ever)."""
    view = CustomerView(con, kinds, role, key, as_of)
    current = view.current_key(customer_key)
    if current is None:
        return None
    return {
        "requested_key": customer_key,
        "customer_key": current,
        "merged": current != customer_key,
        "as_of": view.as_of,
        "role": role,
        "customer": view.golden(current),
        "identifiers": view.identifiers(current),
        "household": view.household(current),
        "accounts": view.accounts(current),
        "transactions": view.transactions(current),
        "interactions": view.interactions(current),
        "complaints": view.complaints(current),
        "segments": view.segments(current),
        "scores": view.scores(current),
        "verdicts": view.run_verdicts(current),
    }
