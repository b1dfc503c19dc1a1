"""Sends outbox messages through channel connectors: retries, rate limits, exactly once.

A message is claimed `sending` (committed, its attempt counted) before the hand-off and
recorded after it: `sent`, `pending` again (a failure known to come before the provider got
it), `dead` (a permanent failure, or retries exhausted) or `in_doubt` (a time-out or reset
after the request went out: never retried blindly). A crash in between leaves it `sending`; at
start-up those become `in_doubt` and the connector is asked whether the hand-off landed: yes ->
sent, no -> pending again, unknowable -> stays in doubt for an operator (`nudge outbox`).

Every database call runs on the dispatcher's own thread and every blocking hand-off on its
connector's own threads, so a hanging provider never holds the event loop nor the threads
ingestion and the engine use.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import orjson

from connectors.channels.base import THREADS, PermanentError, Sender, TransientError, UnknownOutcome
from engine.runtimes.embedded.database import transaction
from engine.runtimes.kernel.codecs import message_from_payload
from engine.runtimes.kernel.port import Observer
from engine.runtimes.retry import RetryPolicy
from engine.runtimes.settings import Settings

log = logging.getLogger("nudge.dispatch")
T = TypeVar("T")


@dataclass(frozen=True)
class DispatchSettings:
    """Retries, concurrency and shutdown (the retries and the grace from `Settings`)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    in_flight: int = THREADS  # hand-offs at once per channel
    grace: float = Settings.shutdown_grace  # how long a shutdown waits for hand-offs in flight
    poll: float = 1.0  # the longest the idle dispatcher goes without looking (a CLI may have re-queued)


class RateLimiter:
    """A token bucket per channel: `rate` sends a second, bursts up to `rate`."""

    def __init__(self, rate: float | None, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.clock = clock
        self.tokens = rate or 0.0
        self.stamp = clock()

    def wait_time(self) -> float:
        if not self.rate:
            return 0.0
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


Update = tuple[str, tuple[Any, ...]]  # one message's outcome, as the SQL that records it
Row = tuple[str, str, bytes, int, float]  # id, channel, payload, attempts (this one counted), origin


class Dispatcher:
    def __init__(self, conn: sqlite3.Connection, senders: dict[str, Sender], wall_clock: Callable[[], float],
                 settings: DispatchSettings = DispatchSettings(), rates: dict[str, float] | None = None,
                 rng: random.Random | None = None, observe: Observer | None = None, batch_size: int = 100) -> None:
        self.conn = conn
        self.senders = senders
        self.clock = wall_clock
        self.settings = settings
        self.policy = settings.retry
        self.rng = rng or random.Random()
        self.limiters = {ch: RateLimiter(r, wall_clock) for ch, r in (rates or {}).items()}
        self.observe = observe
        self.batch_size = batch_size
        self.closing = False
        self.wake: Callable[[], None] = lambda: None  # the running loop's: an operator re-queued something
        self._busy: Counter[str] = Counter()  # hand-offs in flight, by channel
        self._running: set[asyncio.Task[Update]] = set()  # hand-offs whose outcome is not recorded yet
        self._round = asyncio.Lock()  # the runtime's loop and a shutdown's drain take turns
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="nudge-dispatch-db")

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """The dispatcher's connection, on its own thread: no transaction ever runs on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    async def recover(self) -> dict[str, int]:
        """Resolve hand-offs a crash interrupted; returns counts by outcome."""
        in_doubt = await self._db(self._mark_interrupted)
        outcome = {"sent": 0, "resent": 0, "in_doubt": 0}
        verdicts: list[tuple[str, bool]] = []
        for mid, channel in in_doubt:
            sender = self.senders.get(channel)
            landed = await sender.confirm(mid) if sender else None
            if landed is None:
                outcome["in_doubt"] += 1
            else:
                verdicts.append((mid, landed))
                outcome["sent" if landed else "resent"] += 1
        await self._db(self._apply_verdicts, verdicts, self.clock())
        if any(outcome.values()):
            log.warning("recovered interrupted hand-offs: %s", outcome)
        return outcome

    def _mark_interrupted(self) -> list[tuple[str, str]]:
        with transaction(self.conn):
            self.conn.execute("UPDATE outbox SET status = 'in_doubt', error = 'interrupted mid hand-off' "
                              "WHERE status = 'sending'")
            return self.conn.execute("SELECT id, channel FROM outbox WHERE status = 'in_doubt'").fetchall()

    def _apply_verdicts(self, verdicts: list[tuple[str, bool]], now: float) -> None:
        with transaction(self.conn):
            for mid, landed in verdicts:
                if landed:
                    self.conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, error = NULL "
                                      "WHERE id = ? AND status = 'in_doubt'", (now, mid))
                else:
                    self.conn.execute("UPDATE outbox SET status = 'pending', next_attempt = 0 "
                                      "WHERE id = ? AND status = 'in_doubt'", (mid,))

    async def next_ready(self) -> float | None:
        return await self._db(self._next_ready)

    def _next_ready(self) -> float | None:
        row = self.conn.execute("SELECT MIN(next_attempt) FROM outbox WHERE status = 'pending'").fetchone()
        return row[0] if row and row[0] is not None else None

    async def run_once(self) -> int:
        """Rounds until nothing is ready or in flight; returns how many messages were tried."""
        tried = 0
        while True:
            claimed, in_flight = await self.run_round()
            tried += claimed
            if not claimed and not in_flight:
                return tried

    async def run_round(self) -> tuple[int, int]:
        """One round, at most `poll` long however long a provider hangs: record the outcomes that came in,
        claim what is ready within each channel's free slots (nothing once closing), wait for the next
        outcome. Returns (messages claimed, hand-offs still to record)."""
        async with self._round:
            finished = [task for task in self._running if task.done()]
            self._running.difference_update(finished)
            free = None if self.closing else {ch: self.settings.in_flight - n for ch, n in self._busy.items()}
            outcomes = [task.result() for task in finished if not task.cancelled()]  # cancelled: left `sending`
            rows = await self._db(self._record_and_claim, outcomes, self.clock(), free)
            for row in rows:
                self._busy[row[1]] += 1
                self._running.add(asyncio.create_task(self._send(*row)))
            if self._running:
                await asyncio.wait(self._running, timeout=self.settings.poll, return_when=asyncio.FIRST_COMPLETED)
            return len(rows), len(self._running)

    def _record_and_claim(self, updates: list[Update], now: float, free: dict[str, int] | None) -> list[Row]:
        """One transaction: the outcomes that came in, then (unless closing) the next messages to hand off."""
        with transaction(self.conn):
            for sql, params in updates:
                self.conn.execute(sql, params)
            return [] if free is None else self._claim(now, free)

    def _claim(self, now: float, free: dict[str, int]) -> list[Row]:
        """Mark ready messages `sending` and count their attempt, within each channel's free slots."""
        full = [ch for ch, n in free.items() if n <= 0]  # a hanging provider holds up no other channel
        rows = self.conn.execute(
            "SELECT id, channel, payload, attempts, origin FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
            f"AND channel NOT IN ({','.join('?' * len(full))}) ORDER BY next_attempt, seq LIMIT ?",
            (now, *full, self.batch_size)).fetchall()
        chosen: list[Row] = []
        for mid, channel, payload, attempts, origin in rows:
            if free.setdefault(channel, self.settings.in_flight) > 0:
                free[channel] -= 1
                chosen.append((mid, channel, payload, attempts + 1, origin))
        self.conn.executemany("UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
                              [(r[0],) for r in chosen])
        return chosen

    async def _send(self, mid: str, channel: str, payload: bytes, attempts: int, origin: float) -> Update:
        """One message's hand-off; whatever goes wrong stays with this message."""
        try:
            return await self._hand_off(mid, channel, payload, attempts, origin)
        except Exception as exc:  # a connector's bug, a payload it cannot read: the others go on
            log.exception("message %s: hand-off failed", mid)
            return self._dead(mid, attempts, f"connector error: {type(exc).__name__}: {exc}")
        finally:
            self._busy[channel] -= 1

    async def _hand_off(self, mid: str, channel: str, payload: bytes, attempts: int, origin: float) -> Update:
        message = message_from_payload(orjson.loads(payload))
        sender = self.senders.get(channel)
        if sender is None:
            return self._dead(mid, attempts, f"no connector for channel '{channel}'")
        limiter = self.limiters.get(channel)
        while limiter and (pause := limiter.wait_time()) > 0:
            await asyncio.sleep(pause)
        if self.closing:  # shutting down: never handed off, so it simply waits for the next start
            return "UPDATE outbox SET status = 'pending', attempts = ? WHERE id = ?", (attempts - 1, mid)
        try:
            delivery = await sender.send(message)
        except TransientError as exc:
            return self._retry(mid, attempts, exc)
        except PermanentError as exc:
            return self._dead(mid, attempts, str(exc))
        except UnknownOutcome as exc:
            log.warning("message %s: %s; in doubt until resolved (nudge outbox --in-doubt)", mid, exc)
            return "UPDATE outbox SET status = 'in_doubt', attempts = ?, error = ? WHERE id = ?", (attempts, str(exc), mid)
        sent_at = self.clock()
        if self.observe:
            try:
                self.observe(message, "sent", sent_at - origin)
            except Exception:  # it went out: a metrics failure must not make it look otherwise
                log.exception("message %s: observer failed", mid)
        return ("UPDATE outbox SET status = 'sent', attempts = ?, sent_at = ?, provider_id = ?, error = NULL WHERE id = ?",
                (attempts, sent_at, delivery.provider_id, mid))

    def _retry(self, mid: str, attempts: int, exc: TransientError) -> Update:
        if exc.rate_limited:  # the provider asked us to slow down: no attempt used up
            wait = max(exc.retry_after or 0.0, self.policy.rate_limit_wait) * self.rng.uniform(1.0, 1.2)
            return ("UPDATE outbox SET status = 'pending', attempts = ?, next_attempt = ?, error = ? WHERE id = ?",
                    (attempts - 1, self.clock() + wait, str(exc), mid))
        if attempts >= self.policy.max_attempts:
            return self._dead(mid, attempts, f"gave up after {attempts} attempts: {exc}")
        wait = self.policy.delay(attempts, exc.retry_after, self.rng)
        log.info("message %s: %s; retry in %.1fs", mid, exc, wait)
        return ("UPDATE outbox SET status = 'pending', next_attempt = ?, error = ? WHERE id = ?",
                (self.clock() + wait, str(exc), mid))

    def _dead(self, mid: str, attempts: int, error: str) -> Update:
        log.error("message %s failed for good: %s", mid, error)
        return "UPDATE outbox SET status = 'dead', attempts = ?, error = ? WHERE id = ?", (attempts, error, mid)

    async def drain(self) -> int:
        """Take no new hand-off; record those in flight as they end, for up to the grace period.

        Returns how many were still out after it: left `sending`, they are in doubt at the next start.
        """
        self.closing = True
        try:
            await asyncio.wait_for(self.run_once(), self.settings.grace)
        except TimeoutError:
            left = [task for task in self._running if not task.done()]
            for task in left:
                task.cancel()
            log.warning("%d hand-off(s) still in flight after %.0fs: in doubt at the next start", len(left),
                        self.settings.grace)
            return len(left)
        return 0

    def close(self) -> None:
        self._db_thread.shutdown(wait=False, cancel_futures=True)
