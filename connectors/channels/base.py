"""The channel port: hand one message to a provider, and say whether an old hand-off landed."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Protocol, TypeVar

T = TypeVar("T")
THREADS = 32  # hand-offs a blocking connector runs at once; the dispatcher keeps at most this many in flight


@dataclass(frozen=True)
class Delivery:
    """A provider accepted the message; `provider_id` is its own id for it."""

    provider_id: str | None = None


class TransientError(Exception):
    """The provider did not take the message and may later (5xx, unreachable); `retry_after` in seconds when it said.

    `rate_limited` (a 429) uses up no attempt: the provider asked us to slow down, it did not fail.
    """

    def __init__(self, reason: str, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class PermanentError(Exception):
    """Retrying cannot help (a bad recipient, 4xx other than 429): the reason is recorded on the message."""


class UnknownOutcome(Exception):
    """The request may have reached the provider (a time-out or a reset after it went out): never retried blindly."""


class Sender(Protocol):
    name: str

    async def send(self, message: dict[str, Any]) -> Delivery: ...

    async def confirm(self, message_id: str) -> bool | None:
        """For a hand-off in doubt: True if the provider has it, False if not, None if unknowable."""
        ...

    async def close(self) -> None: ...


class Threads:
    """A connector's own threads for a blocking client: a hanging provider ties up these, never the event loop's pool."""

    def __init__(self, name: str, size: int = THREADS) -> None:
        self.pool = ThreadPoolExecutor(size, thread_name_prefix=f"nudge-{name}")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
