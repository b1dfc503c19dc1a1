"""A customer's profile from their events: traits, activity counters, consent and suppression (SPEC §2)."""

from __future__ import annotations

from typing import Any

from engine.effects import SendReason
from engine.events import Event
from engine.ports import Store
from engine.state import CustomerState
from engine.turn import iso

_ABSENT = object()


def merge_traits(state: CustomerState, traits: dict[str, Any]) -> bool:
    """Merge traits (null removes one); True when something changed."""
    changed = False
    for key, value in traits.items():
        if value is None:
            if key in state.traits:
                del state.traits[key]
                changed = True
        elif state.traits.get(key, _ABSENT) != value:
            state.traits[key] = value
            changed = True
    return changed


def count_activity(state: CustomerState, event: Event) -> None:
    """`activity.<type>`: count, first and latest time, by the customer's timestamp (not journey time)."""
    ts = event.timestamp
    a = state.activity.get(event.type)
    if a is None:
        state.activity[event.type] = {"count": 1, "first_at": ts, "last_at": ts}
    else:
        a["count"] += 1
        a["first_at"] = min(a["first_at"], ts)
        a["last_at"] = max(a["last_at"], ts)


def apply_builtin(state: CustomerState, event: Event, store: Store) -> None:
    """Subscription changes and provider feedback: consent traits, and the suppression list."""
    props = event.properties
    if event.type in ("unsubscribed", "subscribed"):
        channel = props.get("channel") or "email"
        topic = props.get("topic")
        if channel not in ("email", "sms"):
            return
        left = [t for t in state.traits.get("unsubscribed_topics") or [] if t != topic]
        if event.type == "unsubscribed" and topic:
            state.traits["unsubscribed_topics"] = sorted({*left, topic})
        elif event.type == "unsubscribed":
            state.traits[f"{channel}_subscribed"] = False
        elif topic:  # back into one topic
            state.traits["unsubscribed_topics"] = left
        else:  # consent given: kept with its time and source, the proof a regulator asks for
            state.traits[f"{channel}_subscribed"] = True
            state.traits[f"{channel}_consent_at"] = iso(event.timestamp)
            state.traits[f"{channel}_consent_source"] = props.get("source") or "event"
    elif event.type in ("email_bounced", "email_complained"):
        if event.type == "email_bounced" and props.get("bounce") != "hard":
            return
        address = props.get("email") or state.traits.get("email")
        if isinstance(address, str) and address.strip():
            reason = SendReason.BOUNCED if event.type == "email_bounced" else SendReason.COMPLAINED
            store.suppress(address.strip(), reason)
