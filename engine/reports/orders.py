"""Orders (SPEC §12): which events are purchases, what each is worth, and which message, if any, earned it.

One function, `order_value`, decides what an order is, so that funnels, attribution,
experiments and customer analytics all count the same orders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from jinja2 import TemplateError

from engine.model import DEFAULT_PURCHASE_EVENTS, Attribution, Workspace
from engine.reports.period import parse_at


@dataclass(frozen=True)
class Order:
    id: str
    customer: str
    at: datetime
    value: float


def order_types(workspace: Workspace | None) -> tuple[str, ...]:
    return workspace.settings.purchase_events if workspace is not None else DEFAULT_PURCHASE_EVENTS


def order_value(event: Mapping[str, Any], workspace: Workspace | None) -> float | None:
    """The value of the order an event records, else None (not an order type, or no number): its
    type's declared `revenue:` expression (SPEC §9) when there is one, else `properties.total`."""
    if event.get("type") not in order_types(workspace):
        return None
    declared = workspace.settings.order_values.get(str(event.get("type"))) if workspace is not None else None
    if declared is not None:
        try:
            total = declared.evaluate({"event": event})
        except (TemplateError, TypeError, ValueError, ArithmeticError):  # no value: as a missing total
            return None
    else:
        total = (event.get("properties") or {}).get("total")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return None
    return float(total)


@dataclass(frozen=True)
class Touch:
    """A message sent to a customer, as attribution sees it."""

    index: int          # the message's index in the report's tally
    channel: str
    sent_at: datetime
    clicks: tuple[datetime, ...]


def credited(order: Order, touches: list[Touch], windows: Attribution) -> int | None:
    """The message an order is credited to, or None.

    Candidates were sent strictly before the order. A clicked one (a click before the order, the
    order within `after_click` of it) beats any plain one (the order within `after_send` of the
    send); among candidates of the same kind the latest sent wins (the later in the log on a tie).
    """
    best: tuple[bool, datetime, int] | None = None
    for t in touches:
        if t.sent_at >= order.at:
            continue
        click = windows.after_click.get(t.channel, timedelta(-1))
        clicked = any(c < order.at and order.at - c <= click for c in t.clicks)
        if not clicked and order.at - t.sent_at > windows.after_send.get(t.channel, timedelta(-1)):
            continue
        key = (clicked, t.sent_at, t.index)
        if best is None or key > best:
            best = key
    return best[2] if best is not None else None


def order_of(event: Mapping[str, Any], customer: str | None, workspace: Workspace | None) -> Order | None:
    """The order an event records (with an id, a known customer and a value), else None."""
    value = order_value(event, workspace)
    if value is None or not customer or not event.get("timestamp"):
        return None
    return Order(str(event.get("id") or ""), customer, parse_at(event["timestamp"]), value)
