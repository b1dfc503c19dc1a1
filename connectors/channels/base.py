"""The channel port: hand one message to a provider, and say whether an old hand-off landed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivery:
    """A provider accepted the message; `provider_id` is its own id for it."""

    provider_id: str | None = None


class TransientError(Exception):
    """Worth retrying (429, 5xx, time-out); `retry_after` in seconds when the provider said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (4xx other than 429): the provider's error is recorded on the message."""


class Sender(Protocol):
    name: str

    async def send(self, message: dict[str, Any]) -> Delivery: ...

    async def confirm(self, message_id: str) -> bool | None:
        """After a crash mid-hand-off: True if the provider has it, False if not, None if unknowable."""
        ...

    async def close(self) -> None: ...
