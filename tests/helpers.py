"""What several test files share: the `hello` and `engage` journeys, and events and records as compact lines."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Callable

from engine.effects import Message
from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import Processor
from rules.workspace import load_workspace
from engine.testing import email, journey_yaml, send_step, wait_step

T0 = "2026-03-02T12:00:00Z"  # a Monday; the US changes to summer time on Sunday 8 March 2026
ANN = {"email": "ann@example.com", "first_name": "Ann"}

# the `hi` template of the `hello` and `engage` journeys
HI = email("Hi {{ profile.first_name | default('there') }}")

# an email, then the journey waits for the open (or an hour) before a follow-up
ENGAGE = """\
id: engage
trigger: {event: signed_up}
steps:
  - id: first
    send: email
    template: hi
  - wait_for: {event: email_opened, timeout: 1h}
    then:
      - id: opened_followup
        send: email
        template: hi
"""
# a text on each `ping`, with its template `t`
TEXTS = journey_yaml("texts", "{event: ping}", send_step("text", "t", "sms"), reentry="after_exit")
T = "Back in stock. Reply STOP to opt out."


def hello_journey(wait: str | None = "1s", *, wait_id: str | None = None, then: str | None = None) -> str:
    """`hello`: on signed_up, step `greet` sends the email `hi`; then a wait (none when None) and `then`.

    `then` defaults to step `later`, sending `hi` again. The greet step's `template:` is on line 6.
    """
    steps = [send_step("greet", "hi"), *([wait_step(wait, wait_id)] if wait else []), then or send_step("later", "hi")]
    return journey_yaml("hello", "{event: signed_up}", *steps)


def event(kind: str, at: str = T0, customer: str | None = "c1", **fields: Any) -> dict[str, Any]:
    """An event dict; `customer=None` leaves customer_id out (an anonymous event)."""
    e: dict[str, Any] = {"type": kind, "timestamp": at, **fields}
    if customer is not None:
        e["customer_id"] = customer
    return e


def line(r: dict[str, Any]) -> str:
    """One record as a compact, exact line: time, customer, journey, what happened, where."""
    who = r["customer_id"] if r["customer_id"] is not None else f"anon:{r['anonymous_id']}"
    head = f"{r['at']} {who} {r['journey']} {r['type']}"
    if r["type"] == "send":
        text = f"{head} {r['step']} {r['channel']} {r['status']}"
        text += f" {r['reason']}" if r["reason"] else ""
        return text + (f" [{r['variant']}]" if r["variant"] is not None else "")
    if r["type"] == "exited":
        return f"{head} {r['reason']} @{r['step']}"
    if r["type"] == "converted":
        return f"{head} {r['value']}"
    return head


def lines(records: list[dict[str, Any]]) -> list[str]:
    return [line(r) for r in records]


def message(id: str = "m1", **fields: Any) -> Message:
    """A message as the engine hands it to a connector; only what a test is about need be given."""
    base: dict[str, Any] = {"at": T0, "channel": "email", "template": "hi", "to": "a@x.example", "customer_id": "c1",
                            "journey": "hello", "step": "greet", "variant": None, "transactional": False,
                            "subject": "Hi", "text": "Hello"}
    return Message(id=id, **{**base, **fields})


def without_unsubscribe_link(text: str | None) -> str | None:
    """A message's text without the unsubscribe link, which each runtime signs for its own address
    (the footer added to a marketing email that lacks one puts it in the text)."""
    return None if text is None else re.sub(r"https?://[^\s)]+/u/[\w.\-]+", "<unsubscribe>", text)


def processed(root: Path, db: Path, events: list[Event], clock: Callable[[], float]) -> Path:
    """A new database at `db` holding `events`, accepted through the real ingest and taken by one
    batch of the real processor over the workspace at `root` (its outbox ready for a dispatcher)."""
    database.create(db)

    async def accept() -> None:
        ingest = Ingest(database.connect(db), clock, lambda: None)
        task = asyncio.create_task(ingest.run())
        await ingest.submit(events)
        task.cancel()

    asyncio.run(accept())
    Processor(database.connect(db), load_workspace(root).workspace, SignedLinks(b"k", "http://x"), clock).run_batch()
    return db
