"""The `Runtime` port: what the HTTP API asks of a running Nudge, whichever runtime runs the engine."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from engine.effects import Message
from engine.events import Event
from engine.links import SignedLinks
from engine.model import Workspace
from engine.runtimes.kernel.health import Health
from engine.runtimes.kernel.serving import Versions

Observer = Callable[[Message, str, float], None]  # message, status, seconds from its input to the hand-off


@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int


@dataclass
class EngineCounters:
    """What the engine did, known only where the engine runs."""

    late: int = 0
    processed: int = 0
    timers_fired: int = 0
    failed: int = 0  # events and timers set aside in failed_inputs
    diagnostics: int = 0


@dataclass
class Counters:
    """The API's own counts, and the engine's when it runs in this process (None: not known here)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    engine: EngineCounters | None = None
    observers: list[Observer] = field(default_factory=list)


class Broadcasts(Protocol):
    """Sending and cancelling broadcasts (SPEC §13) where the engine runs."""

    waiting_known: bool  # whether this runtime's database holds the entries still to come (their timers)

    async def schedule(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        """Send it at its send_at (or now); raises BroadcastError when it cannot be."""

    async def cancel(self, broadcast_id: str) -> dict[str, int]:
        """Customers not yet reached get nothing; raises BroadcastError when there is nothing to cancel."""


class Runtime(Protocol):
    """Submit, view, erase, apply an edit, counts and health: the embedded runtime and the Kafka edge alike."""

    workspace: Workspace
    public_url: str
    links: SignedLinks
    counters: Counters
    health: Health
    read: sqlite3.Connection  # the API's own connection to the database its views are read from
    clock: Callable[[], float]
    versions: Versions  # the version running, the files on disk, and `apply` (SPEC §10)
    broadcasts: Broadcasts | None  # None: this runtime does not send broadcasts (yet)

    async def submit(self, events: list[Event]) -> Accepted:
        """Returns once the events are durable (raises Unavailable when they cannot be)."""

    async def erase_customer(self, customer_id: str) -> bool:
        """GDPR erasure everywhere the customer is kept; False when there is no such customer."""

    async def probe(self) -> dict[str, str]:
        """Problems found at probe time, beyond what the loops recorded."""

    def counts(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """Numbers for /healthz and /metrics, read at scrape time on `conn`: only those this runtime knows."""

    def wake_dispatch(self) -> None:
        """An operator changed the outbox: look at it now."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
