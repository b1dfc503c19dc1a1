"""Twilio status callbacks and inbound texts turned into events; STOP and START as carriers require."""

from __future__ import annotations

from typing import Any

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
STATUS = {"delivered": "sms_delivered", "failed": "sms_failed", "undelivered": "sms_failed"}


def status_event(form: dict[str, str], message: dict[str, Any] | None, now: str) -> dict[str, Any] | None:
    """A final delivery status of a message we sent; intermediate ones (queued, sent) are skipped."""
    kind = STATUS.get(form.get("MessageStatus", ""))
    if kind is None or message is None or not message.get("customer_id"):
        return None
    properties = {k: message[k] for k in ("message_id", "journey", "step", "variant") if message.get(k) is not None}
    properties.update(provider="twilio", sid=form.get("MessageSid"))
    if form.get("ErrorCode"):
        properties["error_code"] = form["ErrorCode"]
    return {"id": f"tw_{form.get('MessageSid')}_{form.get('MessageStatus')}", "type": kind,
            "customer_id": message["customer_id"], "timestamp": now, "properties": properties}


def inbound_event(form: dict[str, str], customer: str | None, now: str) -> dict[str, Any] | None:
    """STOP-like words opt the number out, START-like words back in; any other text is `sms_received`."""
    if not customer:
        return None
    body = form.get("Body", "").strip()
    word = body.upper()
    base = {"id": f"tw_in_{form.get('MessageSid')}", "customer_id": customer, "timestamp": now}
    if word in STOP_WORDS:
        return {**base, "type": "unsubscribed", "properties": {"channel": "sms", "source": f"sms reply {word}"}}
    if word in START_WORDS:
        return {**base, "type": "subscribed", "properties": {"channel": "sms", "source": f"sms reply {word}"}}
    return {**base, "type": "sms_received", "properties": {"body": body, "from": form.get("From")}}
