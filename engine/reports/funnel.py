"""One funnel's counts (entered to revenue) and the rates a marketer reads from them."""

from __future__ import annotations

from typing import Any

# Provider feedback, each a flag counted at most once per message (unique counts).
DELIVERED, OPENED, CLICKED, BOUNCED, COMPLAINED, UNSUBSCRIBED = 1, 2, 4, 8, 16, 32
FLAG_FIELDS = {DELIVERED: "delivered", OPENED: "opened", CLICKED: "clicked", BOUNCED: "bounced",
               COMPLAINED: "complained", UNSUBSCRIBED: "unsubscribed"}
PROVIDER_EVENTS = {
    "email_delivered": DELIVERED, "sms_delivered": DELIVERED,
    "email_opened": OPENED, "email_clicked": CLICKED,
    "email_bounced": BOUNCED, "sms_failed": BOUNCED,   # the provider could not deliver it
    "email_complained": COMPLAINED, "unsubscribed": UNSUBSCRIBED,
}


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class Funnel:
    """Counts for one journey, step, variant, channel or day; mutable while the logs are read."""

    __slots__ = ("id", "entered", "sent", "skipped", "suppressed", "failed", "delivered", "opened", "clicked",
                 "bounced", "complained", "unsubscribed", "conversions", "revenue", "recipients", "extra")

    def __init__(self, id: str, track_recipients: bool = True, **extra: Any) -> None:
        self.id = id
        self.entered = self.sent = self.delivered = self.opened = self.clicked = 0
        self.bounced = self.complained = self.unsubscribed = self.conversions = 0
        self.revenue = 0.0
        self.skipped: dict[str, int] = {}
        self.suppressed: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.recipients: set[str] | None = set() if track_recipients else None
        self.extra = extra

    def flag(self, flag: int) -> None:
        field = FLAG_FIELDS[flag]
        setattr(self, field, getattr(self, field) + 1)

    def as_dict(self) -> dict[str, Any]:
        recipients = len(self.recipients) if self.recipients is not None else None
        return {
            "id": self.id, **self.extra,
            "entered": self.entered, "sent": self.sent, "recipients": recipients,
            "delivered": self.delivered, "opened": self.opened, "clicked": self.clicked,
            "conversions": self.conversions, "revenue": round(self.revenue, 2),
            "unsubscribed": self.unsubscribed, "bounced": self.bounced, "complained": self.complained,
            "skipped": dict(sorted(self.skipped.items())), "suppressed": dict(sorted(self.suppressed.items())),
            "failed": dict(sorted(self.failed.items())),
            "rates": {
                "delivery_rate": _rate(self.delivered, self.sent),
                "open_rate": _rate(self.opened, self.delivered),
                "click_rate": _rate(self.clicked, self.delivered),
                "click_to_open_rate": _rate(self.clicked, self.opened),
                "conversion_rate": _rate(self.conversions, self.entered),
                "revenue_per_recipient": _rate(self.revenue, recipients or 0),
                "unsubscribe_rate": _rate(self.unsubscribed, self.delivered),
                "bounce_rate": _rate(self.bounced, self.sent),
                "complaint_rate": _rate(self.complained, self.delivered),
            },
        }


def daily_row(f: Funnel) -> dict[str, Any]:
    """A day of a journey's time series: the counts only, rates are in the totals."""
    return {"date": f.id, "entered": f.entered, "sent": f.sent, "delivered": f.delivered, "opened": f.opened,
            "clicked": f.clicked, "conversions": f.conversions, "revenue": round(f.revenue, 2),
            "unsubscribed": f.unsubscribed}
