"""Broadcasts in the embedded runtime: scheduled by an operator, started at their first wave, cancelled.

A broadcast file in the workspace sends nothing by itself: `nudge broadcast send` (or the API) adds
it to the `broadcasts` table. At its start the engine loop plans every customer's entry timer a chunk
at a time (customers by key, one chunk an engine batch, committed with the cursor past it), so events
are processed between chunks and a restart goes on from the cursor. Each timer fires in journey-time
order like any other, and the entry it makes (the customer's history of the broadcast) commits with the
timer's deletion and the outbox rows, so a crash at any point neither sends twice nor misses anyone:
what was not committed is redone.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

import orjson

from engine import broadcasts, state_codec
from engine.effects import Diagnostic, Effect, Schedule, TimerKind
from engine.machine import Engine
from engine.model import Journey, Workspace
from engine.runtimes.kernel import applier
from engine.runtimes.kernel.applier import EffectSink
from engine.runtimes.kernel.codecs import epoch, from_epoch
from engine.state import CustomerState
from rules.problems import NudgeError

if TYPE_CHECKING:
    from engine.runtimes.embedded.processor import Processor

log = logging.getLogger("nudge.broadcasts")

CHUNK = 2000
"""Customers planned in one engine batch when a broadcast starts: events wait at most one chunk's planning."""
PATIENCE = 1.0
"""Seconds at most the engine loop waits after a chunk for the writers then waiting for the database's lock (the
ingest of events, the dispatcher, the API: turns.py) to have it; they take at most SQLite's longest wait between
two tries (100 ms) to notice it is free. None waiting: the next chunk at once."""

class BroadcastError(NudgeError):
    """A broadcast that cannot be sent or cancelled in its state: the message says why."""


class UnknownBroadcast(BroadcastError):
    """No broadcast of that id in the workspace, or none to act on."""


def broadcast_of(workspace: Workspace, broadcast_id: str) -> Journey:
    journey = next((j for j in workspace.broadcasts if j.id == broadcast_id), None)
    if journey is None:
        known = ", ".join(j.id for j in workspace.broadcasts) or "none"
        raise UnknownBroadcast(f"no broadcast '{broadcast_id}' in the workspace (broadcasts/*.yaml: {known})")
    return journey


def schedule(conn: sqlite3.Connection, workspace: Workspace, broadcast_id: str, wall_now: float,
             now: bool = False) -> dict[str, Any]:
    """Add the broadcast to those the runtime sends; once only (a sent or cancelled one stays so)."""
    journey = broadcast_of(workspace, broadcast_id)
    if not journey.enabled:
        raise BroadcastError(f"broadcast '{broadcast_id}' has enabled: false: enable it (and apply) to send it")
    # sent after its first wave: it starts now (zones whose moment has passed get it at once, paced)
    start = wall_now if now else max(wall_now, epoch(broadcasts.first_wave(broadcasts.schedule_of(journey))))
    inserted = conn.execute("INSERT OR IGNORE INTO broadcasts (id, status, start, now, requested_at) "
                            "VALUES (?, 'scheduled', ?, ?, ?)", (broadcast_id, start, int(now), wall_now)).rowcount
    if not inserted:
        (current,) = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
        raise BroadcastError(f"broadcast '{broadcast_id}' is already {current}: a broadcast is sent once "
                             "(give a new id to send it again)")
    return status(conn, broadcast_id)


def next_start(conn: sqlite3.Connection) -> float | None:
    """The earliest start of a broadcast to start, or still being planned (its start has come: at once)."""
    row = conn.execute("SELECT MIN(start) FROM broadcasts WHERE status IN ('scheduled', 'starting')").fetchone()
    return row[0] if row and row[0] is not None else None


def forecast(conn: sqlite3.Connection, workspace: Workspace, broadcast_id: str, wall_now: float) -> dict[str, Any]:
    """`nudge broadcast plan` over the database: read-only, so it runs beside a server."""
    journey = broadcast_of(workspace, broadcast_id)
    start = max(broadcasts.first_wave(broadcasts.schedule_of(journey)), from_epoch(wall_now))

    listed: dict[str, str] = dict(conn.execute("SELECT address, reason FROM suppressions").fetchall())

    def suppression(address: str) -> str | None:
        return listed.get(address.lower())

    found = broadcasts.forecast(journey, customers(conn), workspace.settings, start, suppression)
    return {"id": broadcast_id, **found.as_dict()}


def customers(conn: sqlite3.Connection) -> Iterator[CustomerState]:
    """Every known customer (anonymous profiles are no broadcast's audience), one at a time."""
    return (state_codec.loads(blob) for (blob,) in
            conn.execute("SELECT state FROM customers WHERE customer_id IS NOT NULL ORDER BY key"))


def start_due(conn: sqlite3.Connection, workspace: Workspace, wall_now: float, sink: EffectSink,
              chunk: int = CHUNK) -> int:
    """Start the broadcasts whose start has come (status `starting`), then plan the next `chunk` customers of
    the first one starting: their entry timers, the cursor past them, and `sending` once the last are planned,
    all in the caller's transaction. Returns how many customers were looked at, at least 1 when a broadcast
    changed status (0: nothing to plan)."""
    for broadcast_id, in conn.execute("SELECT id FROM broadcasts WHERE status = 'scheduled' AND start <= ?",
                                      (wall_now,)).fetchall():
        conn.execute("UPDATE broadcasts SET status = 'starting', cursor = '', planned = 0, examined = 0 WHERE id = ?",
                     (broadcast_id,))
        log.info("broadcast %s starting: its customers are planned %d at a time", broadcast_id, chunk)
    row = conn.execute("SELECT id, start, now, cursor, pacing FROM broadcasts WHERE status = 'starting' "
                       "ORDER BY start, id LIMIT 1").fetchone()
    if row is None:
        return 0
    broadcast_id, start, now, cursor, pacing = row
    journey = next((j for j in workspace.broadcasts if j.id == broadcast_id), None)
    if journey is None:  # removed from the workspace since it was scheduled: nobody to send it to
        log.error("broadcast %s was scheduled but is no longer in the workspace: cancelled", broadcast_id)
        conn.execute("UPDATE broadcasts SET status = 'cancelled', cancelled_at = ? WHERE id = ?",
                     (wall_now, broadcast_id))
        return 1
    page = conn.execute("SELECT key, state FROM customers WHERE customer_id IS NOT NULL AND key > ? "
                        "ORDER BY key LIMIT ?", (cursor, chunk)).fetchall()
    at = from_epoch(start)  # planned at its start, as a timer fires at its due time even after downtime
    if now:
        journey = broadcasts.starting_now(journey, at)
    per_hour = broadcasts.schedule_of(journey).per_hour
    pacer = broadcasts.Pacer(at, per_hour, orjson.loads(pacing or "[]")) if per_hour else None
    effects = broadcasts.plan(journey, (state_codec.loads(blob) for _, blob in page), workspace.settings, at, pacer)
    applier.apply(effects, sink)
    planned = sum(1 for e in effects if isinstance(e, Schedule))
    done = len(page) < chunk
    conn.execute("UPDATE broadcasts SET status = ?, cursor = ?, planned = planned + ?, examined = examined + ?, "
                 "pacing = ? WHERE id = ?",
                 ("sending" if done else "starting", page[-1][0] if page else cursor, planned, len(page),
                  orjson.dumps(pacer.runs()).decode() if pacer else None, broadcast_id))
    for d in effects:
        if isinstance(d, Diagnostic):
            log.warning("broadcast %s customer %s: %s", broadcast_id, d.customer_id, d.message)
    if done:
        (total,) = conn.execute("SELECT planned FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
        log.info("broadcast %s started: %d customers planned", broadcast_id, total)
    return max(len(page), 1)


@dataclass(frozen=True)
class Joinable:
    """A broadcast a customer first known now may join; while it is still being planned, only a customer the
    planning has passed (key at or before `cursor`): the planning reaches the others itself."""

    journey: Journey
    cursor: str | None


def joinable(conn: sqlite3.Connection, workspace: Workspace, wall_now: float) -> list[Joinable]:
    """The broadcasts under way whose last wave is still to come (started with `--now`: no wave left to join)."""
    found = []
    for broadcast_id, now, status_, cursor in conn.execute(
            "SELECT id, now, status, cursor FROM broadcasts WHERE status IN ('starting', 'sending')"):
        journey = next((j for j in workspace.broadcasts if j.id == broadcast_id), None)
        if journey is not None and not now and epoch(broadcasts.last_wave(broadcasts.schedule_of(journey))) > wall_now:
            found.append(Joinable(journey, cursor if status_ == "starting" else None))
    return found


def newcomer(joinables: list[Joinable], state: CustomerState, workspace: Workspace, at: datetime) -> list[Effect]:
    """A customer first known now: an entry timer in each broadcast under way whose moment for them is still to
    come, unless the planning of its start is still to reach them (it will, once: no second entry)."""
    return [e for j in joinables if j.cursor is None or state.key <= j.cursor
            for e in broadcasts.newcomer(j.journey, state, workspace.settings, at)]


def cancel(conn: sqlite3.Connection, engine: Engine, broadcast_id: str, wall_now: float,
           sink: EffectSink) -> dict[str, int]:
    """Customers not yet reached get nothing: their entries are dropped, those inside exit (`cancelled`)
    and its messages not yet handed to a provider are not sent. In the caller's transaction."""
    unsent = mark_cancelled(conn, broadcast_id, wall_now)
    not_reached = conn.execute("DELETE FROM timers WHERE kind = ? AND journey = ?",
                               (TimerKind.BROADCAST.value, broadcast_id)).rowcount
    now = from_epoch(wall_now)
    inside = 0
    for key, blob in conn.execute("SELECT key, state FROM customers WHERE active > 0").fetchall():
        if broadcast_id in state_codec.loads(blob).instances:
            applier.apply(engine.cancel(key, broadcast_id, now), sink)
            inside += 1
    return {"not_reached": not_reached, "exited": inside, "messages_not_sent": unsent}


def mark_cancelled(conn: sqlite3.Connection, broadcast_id: str, wall_now: float) -> int:
    """The broadcast's row says cancelled, and its queued messages are not sent; returns how many."""
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    if row is None:
        raise UnknownBroadcast(f"broadcast '{broadcast_id}' was never sent: nothing to cancel")
    if row[0] == "cancelled":
        raise BroadcastError(f"broadcast '{broadcast_id}' is already cancelled")
    conn.execute("UPDATE broadcasts SET status = 'cancelled', cancelled_at = ? WHERE id = ?", (wall_now, broadcast_id))
    unsent: int = conn.execute("UPDATE outbox SET status = 'cancelled', error = 'broadcast cancelled' "
                               "WHERE journey = ? AND status = 'pending'", (broadcast_id,)).rowcount
    return unsent


def status(conn: sqlite3.Connection, broadcast_id: str, waiting_known: bool = True) -> dict[str, Any]:
    """Where a broadcast stands: entered, sent (the engine's decisions), its outbox messages by delivery status,
    those not sent by reason, and customers still waiting by local time zone; while its start is being planned
    (`starting`), the known customers looked at so far."""
    row = conn.execute("SELECT status, start, now, requested_at, planned, cancelled_at, examined FROM broadcasts "
                       "WHERE id = ?", (broadcast_id,)).fetchone()
    if row is None:
        return {"id": broadcast_id, "status": "draft"}  # in the workspace, never sent
    state, start, now, requested_at, planned, cancelled_at, examined = row
    planning = {}
    if state == "starting":  # its customers planned so far, of those known now
        (known,) = conn.execute("SELECT COUNT(*) FROM customers WHERE customer_id IS NOT NULL").fetchone()
        planning = {"examined": examined, "known": known}
    entered = conn.execute("SELECT COUNT(*) FROM records WHERE journey = ? AND type = 'entered'",
                           (broadcast_id,)).fetchone()[0]
    messages = dict(conn.execute("SELECT status, COUNT(*) FROM outbox WHERE journey = ? GROUP BY status",
                                 (broadcast_id,)).fetchall())
    decided = conn.execute(
        "SELECT json_extract(body, '$.status'), json_extract(body, '$.reason'), COUNT(*) FROM records "
        "WHERE journey = ? AND type = 'send' GROUP BY 1, 2", (broadcast_id,)).fetchall()
    not_sent = {reason or kind: n for kind, reason, n in decided if kind != "sent"}
    waiting = dict(conn.execute("SELECT token, COUNT(*) FROM timers WHERE kind = ? AND journey = ? GROUP BY token "
                                "ORDER BY token", (TimerKind.BROADCAST.value, broadcast_id)).fetchall())
    if state == "sending" and not waiting and waiting_known:
        state = "sent"  # everyone reached: follow-up steps may still be waiting
    return {"id": broadcast_id, "status": state, "start": _iso(start), "now": bool(now),
            "requested_at": _iso(requested_at), "planned": planned, **planning, "entered": entered,
            "sent": sum(n for kind, _, n in decided if kind == "sent"), "messages": messages, "not_sent": not_sent,
            "waiting": sum(waiting.values()) if waiting_known else None,
            "waiting_by_zone": waiting if waiting_known else None, "cancelled_at": _iso(cancelled_at)}


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Desk:
    """The embedded runtime's `Broadcasts` port: its processor writes, between two batches, and the engine loop wakes."""

    waiting_known = True

    def __init__(self, processor: Processor, wake: Callable[[], None]) -> None:
        self.processor = processor
        self.wake = wake

    async def schedule(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        view = await asyncio.to_thread(self.processor.schedule_broadcast, broadcast_id, now)
        self.wake()  # its start may come before the loop's next timer
        return view

    async def cancel(self, broadcast_id: str) -> dict[str, int]:
        return await asyncio.to_thread(self.processor.cancel_broadcast, broadcast_id)
