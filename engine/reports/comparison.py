"""Period over period: the chosen period beside the one of the same length just before it, with deltas."""

from __future__ import annotations

from typing import Any, Mapping

# (key, label, base of the number): counts and amounts; their change is a difference and a relative change
COUNTS = (("entered", "entered", "journey entries"),
          ("sent", "sent", "messages sent"),
          ("clicked", "clicked", "messages clicked (once per message)"),
          ("conversions", "goal conversions", "the journeys' goals reached"),
          ("orders", "attributed orders", "orders credited to messages by the attribution windows"),
          ("attributed_revenue", "attributed revenue", "value of the orders credited to messages"))
# rates: their change is in percentage points, never a relative change of a rate
RATES = (("click_rate", "click rate", "clicked / delivered, or / sent without delivery reports"),
         ("conversion_rate", "goal conversion rate", "goal conversions / entered"))
MONEY = frozenset({"attributed_revenue", "order_total"})


def _row(key: str, label: str, base: str, now: float | None, before: float | None, rate: bool) -> dict[str, Any]:
    change = None if now is None or before is None else now - before
    relative = None if rate or change is None or not before else change / before
    return {"metric": key, "label": label, "base": base, "current": now, "previous": before,
            "change": change, "relative_change": relative, "kind": "rate" if rate else
            "money" if key in MONEY else "count"}


def _rows(now: Mapping[str, Any], before: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    empty: Mapping[str, Any] = {"rates": {}}
    old = before if before is not None else empty
    rows = [_row(key, label, base, now[key], old.get(key, 0), False) for key, label, base in COUNTS]
    rows += [_row(key, label, base, now["rates"][key], old["rates"].get(key), True) for key, label, base in RATES]
    return rows


def compare(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """`current` and `previous` are reports' parts: `revenue`, `totals`, `journeys` and `period` of each."""
    revenue = [_row(key, label, base, current["revenue"][key], previous["revenue"][key], False)
               for key, label, base in (("orders", "orders", "orders placed, each once"),
                                        ("order_total", "orders' total", "value of the orders placed"))]
    before = {j["id"]: j for j in previous["journeys"]}
    return {
        "previous_period": previous["period"],
        "revenue": revenue,
        "totals": _rows(current["totals"], previous["totals"]),
        "journeys": [{"id": j["id"], "name": j["name"], "metrics": _rows(j, before.get(j["id"]))}
                     for j in current["journeys"]],
    }
