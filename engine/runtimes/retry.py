"""How long a failed hand-off waits before the next try, and when retrying stops (SPEC §8, docs/operations.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine.runtimes.startup import EX_CONFIG, StartupError

JITTER_FLOOR = 0.5  # a delay is drawn from [0.5, 1] x the exponential backoff


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a message is dead only once its retries have spanned `give_up_after`."""

    base_delay: float = 10.0
    max_delay: float = 3600.0
    give_up_after: float = 86400.0
    rate_limit_wait: float = 1.0  # the least wait after a 429 that named none

    def __post_init__(self) -> None:
        if self.base_delay <= 0 or self.max_delay <= 0:
            raise StartupError(EX_CONFIG, "retry delays (NUDGE_RETRY_BASE_DELAY, NUDGE_RETRY_MAX_DELAY) "
                                          "must be over 0 seconds")

    @property
    def max_attempts(self) -> int:
        """Enough attempts that even the shortest jittered delays add up to `give_up_after`."""
        attempts, span = 1, 0.0
        while span < self.give_up_after:
            span += JITTER_FLOOR * min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1))
            attempts += 1
        return attempts

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential backoff with jitter; a provider's Retry-After wins when it is longer."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1)) * rng.uniform(JITTER_FLOOR, 1.0)
        return max(backoff, retry_after or 0.0)
