"""The frontline's two lookups, each audited: find customers by what a caller says, show one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from frontline import audit, search
from frontline.customer import CustomerView, rows, show
from frontline.reader import PublishedWarehouse
from ingest.privacy import Hasher, check_role

CARD = ["first_name", "last_name", "email", "phone", "postcode", "city"]


@dataclass(frozen=True)
class Frontline:
    warehouse: Path
    kinds: Mapping[str, str]  # customer_360's personal-data declaration: column -> kind
    key: bytes  # the pseudonym key
    audit_log: Path
    reader: PublishedWarehouse = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", PublishedWarehouse(self.warehouse))

    def find(self, text: str, role: str, user: str, channel: str, limit: int = 10) -> list[dict]:
        """Customers `text` may mean, best first, each as a card the role may see."""
        check_role(role)
        with self.reader.lookup() as con:
            matches = search.find(con, text, limit, personal=role != "analyst")
            view = CustomerView(con, self.kinds, role, self.key, None)
            cards = {
                r["customer_key"]: r
                for r in rows(
                    con,
                    f"select customer_key, household_key, value_segment, {view.select(CARD)} "
                    "from marts.customer_360 where customer_key in (select unnest($keys))",
                    {"keys": [m.customer_key for m in matches]},
                )
            }
        found = [
            {**cards.get(m.customer_key, {"customer_key": m.customer_key}), **vars(m)}
            for m in matches
        ]
        audit.record(
            self.audit_log,
            user=user,
            role=role,
            action="find",
            customer_keys=[m.customer_key for m in matches],
            channel=channel,
            query_pseudonym=Hasher(self.key).value(" ".join(text.lower().split())),
        )
        return found

    def show(
        self, customer_key: int, role: str, user: str, channel: str, as_of: dt.date | None = None
    ) -> dict | None:
        check_role(role)
        with self.reader.lookup() as con:
            view = show(con, customer_key, self.kinds, role, self.key, as_of)
        audit.record(
            self.audit_log,
            user=user,
            role=role,
            action="show",
            customer_keys=[view["customer_key"]] if view else [],
            channel=channel,
            requested_key=customer_key,
            as_of=(view or {}).get("as_of") or as_of,
        )
        return view

    def household(self, household_key: int, role: str, user: str, channel: str) -> list[dict]:
        """The members of a household, as cards."""
        check_role(role)
        with self.reader.lookup() as con:
            view = CustomerView(con, self.kinds, role, self.key, None)
            members = rows(
                con,
                f"select customer_key, value_segment, clv_net_36m, attrition_risk, "
                f"{view.select(CARD)} from marts.customer_360 "
                "where household_key = $h order by customer_key",
                {"h": household_key},
            )
        audit.record(
            self.audit_log,
            user=user,
            role=role,
            action="household",
            customer_keys=[m["customer_key"] for m in members],
            channel=channel,
            household_key=household_key,
        )
        return members
