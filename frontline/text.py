"""The lookups as plain text for the terminal (`cif customer find|show`)."""

from __future__ import annotations

from typing import Any

NAME_FIELDS = ("first_name", "last_name")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def name_of(row: dict) -> str:
    return " ".join(_fmt(row.get(f)) for f in NAME_FIELDS if f in row) or "(name not shown)"


def _pairs(row: dict, skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k}: {_fmt(v)}" for k, v in row.items() if k not in skip)


def render_found(found: list[dict]) -> str:
    if not found:
        return "No customer found."
    lines = [f"{len(found)} customer(s) found:"]
    for card in found:
        rest = _pairs(card, skip=(*NAME_FIELDS, "customer_key", "score", "matched_on"))
        lines.append(
            f"  {card['customer_key']:>8}  {name_of(card)}  "
            f"[{card['matched_on']} {card['score']:.2f}]  {rest}"
        )
    return "\n".join(lines)


def _section(title: str, items: list[dict], skip: tuple[str, ...] = ()) -> list[str]:
    lines = [f"\n{title} ({len(items)})"]
    lines += [f"  - {_pairs(item, skip)}" for item in items] or ["  none"]
    return lines


def render_customer(view: dict) -> str:
    merged = f" (key {view['requested_key']} was merged into it)" if view["merged"] else ""
    head = [
        f"Customer {view['customer_key']}{merged}: {name_of(view['customer'])}",
        f"As of {view['as_of']}, seen as {view['role']}",
        "  " + _pairs(view["customer"], skip=NAME_FIELDS),
    ]
    verdicts = view["verdicts"]
    scores = view["scores"]
    value = [
        "\nValue and risk",
        f"  CLV net 36m: {_fmt(scores.get('clv_net_36m'))}, P(alive): "
        f"{_fmt(scores.get('p_alive'))} (scores of {_fmt(scores.get('as_of_date'))})",
        f"  Attrition: {_fmt(verdicts.get('attrition_reason'))}",
        f"  Segment: {_fmt(verdicts.get('value_segment'))}; key account: "
        f"{'yes (' + _fmt(verdicts.get('key_criteria')) + ')' if verdicts.get('is_key_account') else 'no'}"
        + (
            f", revenue {_fmt(verdicts.get('revenue_actual'))} of target "
            f"{_fmt(verdicts.get('revenue_target'))} in {verdicts.get('current_period')}"
            if verdicts.get("revenue_target") is not None
            else ""
        ),
        f"  Next step: {_fmt(verdicts.get('next_step'))} - {_fmt(verdicts.get('next_step_reason'))}"
        f" (rule {_fmt(verdicts.get('next_step_rule'))}, run of {_fmt(verdicts.get('as_of_date'))})",
    ]
    house = view["household"]
    lines = head + value
    lines += _section("Identifiers per system", view["identifiers"])
    lines += _section(
        f"Household {house['household_key']} ({house['household_rule']})", house["members"]
    )
    lines += _section("Accounts and roles", view["accounts"])
    lines += _section("Segments", view["segments"])
    lines += _section("Complaints", view["complaints"])
    lines += _section("Recent transactions", view["transactions"])
    lines += _section("Recent interactions", view["interactions"])
    return "\n".join(lines)
