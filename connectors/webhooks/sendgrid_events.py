"""SendGrid's signed Event Webhook turned into SPEC §2 events, attributed through custom args."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from sendgrid.helpers.eventwebhook import EventWebhook

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
WINDOW = 300.0
ATTRIBUTION = ("message_id", "journey", "step", "variant")


@dataclass
class SendGridVerifier:
    """ECDSA over timestamp + raw body (the library's check), plus a freshness window and replay memory."""

    public_key: str
    _seen: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._webhook = EventWebhook(self.public_key)

    def check(self, body: bytes, signature: str | None, timestamp: str | None, now: float) -> str | None:
        """None when genuine and fresh; else why the post is refused."""
        if not signature or not timestamp:
            return f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}"
        try:
            sent_at = float(timestamp)
        except ValueError:
            return "the timestamp header is not a Unix time"
        if abs(now - sent_at) > WINDOW:
            return "timestamp outside the 5-minute window"
        try:
            genuine = self._webhook.verify_signature(body.decode("utf-8"), signature, timestamp)
        except (ValueError, UnicodeDecodeError):
            genuine = False
        if not genuine:
            return "invalid signature"
        self._seen = {sig: t for sig, t in self._seen.items() if now - t <= WINDOW}
        if signature in self._seen:
            return "signature already used (replay)"
        self._seen[signature] = now
        return None


def _type_of(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    kind = item.get("event")
    if kind == "delivered":
        return "email_delivered", {}
    if kind == "open":
        return "email_opened", {"machine_open": bool(item.get("sg_machine_open", False))}
    if kind == "click":
        return "email_clicked", {"url": item.get("url")}
    if kind == "bounce":
        hard = item.get("type", "bounce") == "bounce"  # "blocked" is temporary
        return "email_bounced", {"bounce": "hard" if hard else "soft", "reason": item.get("reason")}
    if kind == "dropped":
        return "email_bounced", {"bounce": "soft", "reason": item.get("reason"), "dropped": True}
    if kind == "spamreport":
        return "email_complained", {}
    if kind in ("unsubscribe", "group_unsubscribe"):
        return "unsubscribed", {"channel": "email", "source": f"sendgrid {kind}"}
    return None  # processed, deferred: nothing a journey or report needs


def event_id(item: dict[str, Any]) -> str:
    """SendGrid may change sg_event_id when it retries a delivery: key on what does not change."""
    key = "|".join(str(item.get(k, "")) for k in ("sg_message_id", "event", "timestamp", "url"))
    return "sg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def to_events(items: list[dict[str, Any]], find_customer: Callable[[str], str | None]) -> tuple[list[dict[str, Any]], int]:
    """Our events for SendGrid's; returns them and how many could not be attributed."""
    events: list[dict[str, Any]] = []
    unattributed = 0
    for item in items:
        mapped = _type_of(item) if isinstance(item, dict) else None
        if mapped is None:
            continue
        kind, extra = mapped
        address = str(item.get("email") or "")
        customer = item.get("customer_id") or (find_customer(address) if address else None)
        if not customer:
            unattributed += 1
            continue
        properties = {k: item[k] for k in ATTRIBUTION if item.get(k) is not None}
        properties.update({k: v for k, v in extra.items() if v is not None}, email=address, provider="sendgrid")
        when = datetime.fromtimestamp(float(item.get("timestamp") or 0), timezone.utc)
        events.append({"id": event_id(item), "type": kind, "customer_id": str(customer),
                       "timestamp": when.isoformat().replace("+00:00", "Z"), "properties": properties})
    return events, unattributed
