"""One funnel's counts (entered to revenue) and the rates a marketer reads from them."""

from __future__ import annotations

from typing import Any

# Provider feedback, each a flag counted at most once per message (unique counts). REPORTED: the
# connector said whether the message arrived (a delivery or a bounce), so a delivery rate means something.
DELIVERED, OPENED, CLICKED, BOUNCED, COMPLAINED, UNSUBSCRIBED, REPORTED = 1, 2, 4, 8, 16, 32, 64
FLAG_FIELDS = {DELIVERED: "delivered", OPENED: "opened", CLICKED: "clicked", BOUNCED: "bounced",
               COMPLAINED: "complained", UNSUBSCRIBED: "unsubscribed", REPORTED: "reported"}
PROVIDER_EVENTS = {
    "email_delivered": DELIVERED, "sms_delivered": DELIVERED,
    "email_opened": OPENED, "email_clicked": CLICKED, "sms_clicked": CLICKED,   # tracked links (settings.tracking)
    "email_bounced": BOUNCED, "sms_failed": BOUNCED,   # the provider could not deliver it
    "email_complained": COMPLAINED, "unsubscribed": UNSUBSCRIBED,
}


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class Funnel:
    """Counts for one journey, step, variant, channel or day; mutable while the logs are read.

    `conversions` and `goal_value` are the journey's goal (SPEC §4), per journey: one order may
    complete several journeys' goals. `orders` and `attributed_revenue` are orders credited to
    this funnel's messages by the attribution windows (SPEC §12): each order at most once overall.
    `per` names the base of the goal conversion rate: `entered` (journeys, variants) or
    `recipients` (steps and channels, which nobody enters).
    """

    __slots__ = ("id", "per", "entered", "sent", "skipped", "suppressed", "failed", "delivered", "opened", "clicked",
                 "bounced", "complained", "unsubscribed", "reported", "conversions", "goal_value", "orders",
                 "attributed_revenue", "recipients", "extra")

    def __init__(self, id: str, track_recipients: bool = True, per: str = "entered", **extra: Any) -> None:
        self.id, self.per = id, per
        self.entered = self.sent = self.delivered = self.opened = self.clicked = 0
        self.bounced = self.complained = self.unsubscribed = self.reported = self.conversions = self.orders = 0
        self.goal_value = self.attributed_revenue = 0.0
        self.skipped: dict[str, int] = {}
        self.suppressed: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.recipients: set[str] | None = set() if track_recipients else None
        self.extra = extra

    def absorb(self, part: Funnel) -> None:
        """Adds the sends, reasons and provider flags counted apart (a group of messages)."""
        for name in ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "reported"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for mine, theirs in ((self.skipped, part.skipped), (self.suppressed, part.suppressed),
                             (self.failed, part.failed)):
            for reason, n in theirs.items():
                mine[reason] = mine.get(reason, 0) + n

    def add_flags(self, bits: int, messages: int) -> None:
        """Counts `messages` more messages with each of these flags (FLAG_FIELDS bits)."""
        for flag, field in FLAG_FIELDS.items():
            if bits & flag:
                setattr(self, field, getattr(self, field) + messages)

    def as_dict(self) -> dict[str, Any]:
        recipients = len(self.recipients) if self.recipients is not None else None
        reach = recipients or 0
        # Without any delivery report, a delivery rate would read 0%: it is unknown, and engagement is over sent.
        delivered_base = self.delivered if self.reported else self.sent
        conversion_base = self.entered if self.per == "entered" else reach
        return {
            "id": self.id, **self.extra,
            "entered": self.entered, "sent": self.sent, "recipients": recipients,
            "delivery_reported": bool(self.reported), "delivered": self.delivered, "opened": self.opened,
            "clicked": self.clicked, "conversions": self.conversions, "goal_value": round(self.goal_value, 2),
            "orders": self.orders, "attributed_revenue": round(self.attributed_revenue, 2),
            "unsubscribed": self.unsubscribed, "bounced": self.bounced, "complained": self.complained,
            "skipped": dict(sorted(self.skipped.items())), "suppressed": dict(sorted(self.suppressed.items())),
            "failed": dict(sorted(self.failed.items())),
            "rates": {
                "delivery_rate": _rate(self.delivered, self.sent) if self.reported else None,
                "open_rate": _rate(self.opened, delivered_base),
                "click_rate": _rate(self.clicked, delivered_base),
                "click_to_open_rate": _rate(self.clicked, self.opened),
                "conversion_rate": _rate(self.conversions, conversion_base),
                "attributed_revenue_per_recipient": _rate(self.attributed_revenue, reach),
                "unsubscribe_rate": _rate(self.unsubscribed, delivered_base),
                "bounce_rate": _rate(self.bounced, self.sent),
                "complaint_rate": _rate(self.complained, delivered_base),
            },
            "rate_bases": {"engagement": "delivered" if self.reported else "sent",
                           "conversion_rate": "entered" if self.per == "entered" else "recipients"},
        }


def iteration_row(f: Funnel) -> dict[str, Any]:
    """One pass of a step inside a repeat (SPEC §15): its own sends, reach, engagement and last-touch goals."""
    base = f.delivered if f.reported else f.sent
    not_sent = sum(f.skipped.values()) + sum(f.suppressed.values()) + sum(f.failed.values())
    return {"iteration": int(f.id), "sent": f.sent, "recipients": len(f.recipients or ()), "delivered": f.delivered,
            "opened": f.opened, "clicked": f.clicked, "open_rate": _rate(f.opened, base),
            "click_rate": _rate(f.clicked, base), "not_sent": not_sent, "conversions": f.conversions,
            "orders": f.orders, "attributed_revenue": round(f.attributed_revenue, 2)}


def daily_row(f: Funnel) -> dict[str, Any]:
    """A day of a journey's time series: the counts only, rates are in the totals."""
    return {"date": f.id, "entered": f.entered, "sent": f.sent, "delivered": f.delivered, "opened": f.opened,
            "clicked": f.clicked, "conversions": f.conversions, "goal_value": round(f.goal_value, 2),
            "orders": f.orders, "attributed_revenue": round(f.attributed_revenue, 2),
            "unsubscribed": f.unsubscribed}
