"""SendGrid's signed Event Webhook turned into SPEC §2 events, attributed through custom args."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sendgrid.helpers.eventwebhook import EventWebhook

from connectors.freshness import FRESHNESS, Freshness
from rules.events import parse_event
from rules.problems import EventError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
ATTRIBUTION = ("message_id", "journey", "step", "variant")
# the order of P-256, SendGrid's curve: (r, s) and (r, N - s) are both valid signatures of a post
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass
class SendGridVerifier:
    """ECDSA over timestamp + raw body (the library's check) and a freshness window; the caller
    keeps the replay memory in the database, keyed on `replay_key`."""

    public_key: str
    freshness: Freshness = FRESHNESS

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
        if (stale := self.freshness.refuse(sent_at, now)) is not None:
            return stale
        if replay_key(signature) is None:
            return "invalid signature"
        try:
            genuine = self._webhook.verify_signature(body.decode("utf-8"), signature, timestamp)
        except (ValueError, UnicodeDecodeError):
            genuine = False
        return None if genuine else "invalid signature"


def replay_key(signature: str) -> str | None:
    """The signature as numbers, so a replay cannot pass as new by re-encoding it: other base64
    (the decoder skips stray characters), other DER, or the twin (r, N - s); None if undecodable."""
    try:
        r, s = decode_dss_signature(base64.b64decode(signature))
    except ValueError:  # binascii.Error is one
        return None
    return f"sendgrid:{r:x}:{min(s, P256_ORDER - s):x}"


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


@dataclass(frozen=True)
class Mapped:
    """What a batch became: events to submit, items with no known customer, items refused as malformed."""

    events: list[dict[str, Any]]
    unattributed: int
    refused: int


def _event(item: dict[str, Any], kind: str, extra: dict[str, Any], customer: str) -> dict[str, Any]:
    """Our event for one item; raises (ValueError, TypeError, OverflowError, OSError, EventError) if malformed."""
    address = str(item.get("email") or "")
    properties = {k: item[k] for k in ATTRIBUTION if item.get(k) is not None}
    properties.update({k: v for k, v in extra.items() if v is not None}, email=address, provider="sendgrid")
    when = datetime.fromtimestamp(float(item.get("timestamp") or 0), timezone.utc)
    event = {"id": event_id(item), "type": kind, "customer_id": customer,
             "timestamp": when.isoformat().replace("+00:00", "Z"), "properties": properties}
    parse_event(event)  # refused here, alone, rather than failing the whole batch on submit
    return event


def to_events(items: list[Any], find_customer: Callable[[str], str | None]) -> Mapped:
    """Our events for SendGrid's: a malformed item is counted and skipped, never fails the batch
    (SendGrid would retry the whole batch, good items included, for days)."""
    events: list[dict[str, Any]] = []
    unattributed = refused = 0
    for item in items:
        if not isinstance(item, dict):
            refused += 1
            continue
        mapped = _type_of(item)
        if mapped is None:
            continue
        address = str(item.get("email") or "")
        customer = item.get("customer_id") or (find_customer(address) if address else None)
        if not customer:
            unattributed += 1
            continue
        try:
            events.append(_event(item, *mapped, str(customer)))
        except (ValueError, TypeError, OverflowError, OSError, EventError):
            refused += 1
    return Mapped(events, unattributed, refused)
