"""What the API's routers share: the runtime, serialized database access, the settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from fastapi import Request

from engine.runtimes.kernel.port import Runtime
from engine.runtimes.settings import Settings
from rules.events import parse_event
from rules.problems import EventError

log = logging.getLogger("nudge.api")


@dataclass
class Deps:
    runtime: Runtime
    settings: Settings
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def on_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a query on the API's own connection, one at a time, off the event loop."""
        async with self.db_lock:
            return await asyncio.to_thread(fn, self.runtime.read, *args)

    async def submit(self, events: list[dict[str, Any]]) -> int:
        """Feed events into the same durable stream as website events; returns how many were new.
        One that breaks SPEC §8 (a provider echoing an id or address we would refuse) is logged and
        counted as rejected: it must not fail the others of its callback."""
        parsed = []
        for raw in events:
            try:
                parsed.append(parse_event(raw))
            except EventError as exc:
                log.warning("provider event refused: %s", exc)
                self.runtime.counters.rejected += 1
        if not parsed:
            return 0
        return (await self.runtime.submit(parsed)).accepted

    @property
    def public_url(self) -> str:
        return self.runtime.public_url.rstrip("/")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


async def read_limited_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is over `limit` bytes: read before any authentication, so a
    large post must cost a bounded amount of memory (a declared length is refused unread)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)

