"""Sends outbox messages through channel connectors: retries, rate limits, exactly once.

A message is marked `sending` (committed) before the hand-off and `sent` after it. A crash
in between leaves it `sending`; at start-up those become `in_doubt` and the connector is
asked whether the hand-off landed: yes -> sent, no -> pending again, unknowable -> stays
in doubt for an operator (`nudge outbox --in-doubt`). Every other message goes out once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from connectors.channels.base import PermanentError, Sender, TransientError
from engine.runtimes.embedded.database import transaction

log = logging.getLogger("nudge.dispatch")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 600.0

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential backoff with jitter; a provider's Retry-After wins when it is longer."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1)) * rng.uniform(0.5, 1.0)
        return max(backoff, retry_after or 0.0)


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


Observer = Callable[[dict[str, Any], str, float], None]


class Dispatcher:
    def __init__(self, conn: sqlite3.Connection, senders: dict[str, Sender], wall_clock: Callable[[], float],
                 policy: RetryPolicy = RetryPolicy(), rates: dict[str, float] | None = None,
                 rng: random.Random | None = None, observe: Observer | None = None, batch_size: int = 100) -> None:
        self.conn = conn
        self.senders = senders
        self.clock = wall_clock
        self.policy = policy
        self.rng = rng or random.Random()
        self.limiters = {ch: RateLimiter(r, wall_clock) for ch, r in (rates or {}).items()}
        self.observe = observe
        self.batch_size = batch_size

    async def recover(self) -> dict[str, int]:
        """Resolve hand-offs a crash interrupted; returns counts by outcome."""
        self.conn.execute("UPDATE outbox SET status = 'in_doubt' WHERE status = 'sending'")
        outcome = {"sent": 0, "resent": 0, "in_doubt": 0}
        for mid, channel in self.conn.execute("SELECT id, channel FROM outbox WHERE status = 'in_doubt'").fetchall():
            sender = self.senders.get(channel)
            landed = await sender.confirm(mid) if sender else None
            if landed is True:
                self.conn.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE id = ?", (self.clock(), mid))
                outcome["sent"] += 1
            elif landed is False:
                self.conn.execute("UPDATE outbox SET status = 'pending', next_attempt = 0 WHERE id = ?", (mid,))
                outcome["resent"] += 1
            else:
                outcome["in_doubt"] += 1
        if any(outcome.values()):
            log.warning("recovered interrupted hand-offs: %s", outcome)
        return outcome

    def next_ready(self) -> float | None:
        row = self.conn.execute("SELECT MIN(next_attempt) FROM outbox WHERE status = 'pending'").fetchone()
        return row[0] if row and row[0] is not None else None

    async def run_once(self) -> int:
        """Send what is ready now; returns how many messages were tried."""
        now = self.clock()
        rows = self.conn.execute(
            "SELECT id, channel, payload, attempts, origin FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
            "ORDER BY next_attempt, seq LIMIT ?", (now, self.batch_size)).fetchall()
        if not rows:
            return 0
        with transaction(self.conn):
            self.conn.executemany("UPDATE outbox SET status = 'sending' WHERE id = ?", [(r[0],) for r in rows])
        results = await asyncio.gather(*(self._send(*row) for row in rows))
        with transaction(self.conn):
            for sql, params in results:
                self.conn.execute(sql, params)
        return len(rows)

    async def _send(self, mid: str, channel: str, payload: bytes, attempts: int, origin: float) -> tuple[str, tuple[Any, ...]]:
        message = orjson.loads(payload)
        sender = self.senders.get(channel)
        attempts += 1
        if sender is None:
            return self._dead(mid, attempts, f"no connector for channel '{channel}'")
        limiter = self.limiters.get(channel)
        while limiter and (pause := limiter.wait_time()) > 0:
            await asyncio.sleep(pause)
        try:
            delivery = await sender.send(message)
        except TransientError as exc:
            if attempts >= self.policy.max_attempts:
                return self._dead(mid, attempts, f"gave up after {attempts} attempts: {exc}")
            retry_at = self.clock() + self.policy.delay(attempts, exc.retry_after, self.rng)
            log.info("message %s: %s; retry in %.1fs", mid, exc, retry_at - self.clock())
            return ("UPDATE outbox SET status = 'pending', attempts = ?, next_attempt = ?, error = ? WHERE id = ?",
                    (attempts, retry_at, str(exc), mid))
        except PermanentError as exc:
            return self._dead(mid, attempts, str(exc))
        sent_at = self.clock()
        if self.observe:
            self.observe(message, "sent", sent_at - origin)
        return ("UPDATE outbox SET status = 'sent', attempts = ?, sent_at = ?, provider_id = ?, error = NULL WHERE id = ?",
                (attempts, sent_at, delivery.provider_id, mid))

    def _dead(self, mid: str, attempts: int, error: str) -> tuple[str, tuple[Any, ...]]:
        log.error("message %s failed for good: %s", mid, error)
        return ("UPDATE outbox SET status = 'dead', attempts = ?, error = ? WHERE id = ?", (attempts, error, mid))
