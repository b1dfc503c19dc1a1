"""How long a signed inbound post stays valid, and how long its signature must be remembered.

A stamp may lag `now` by delivery delays (five minutes, as Stripe and SendGrid allow) but lead
it only by clock skew: a stamp far in the future would stay valid after its replay memory was
purged, so it could be replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Freshness:
    past: float = 300.0
    future: float = 30.0

    def refuse(self, stamped: float, now: float) -> str | None:
        """None when a post stamped `stamped` may be accepted at `now`; else why not."""
        if isinstance(stamped, float) and not math.isfinite(stamped):
            return "the signature timestamp is not a Unix time"
        if stamped > now + self.future:
            return (f"signature timestamp outside the window: {stamped - now:.0f} s in the future "
                    f"(over {self.future:.0f} s of clock skew)")
        if now - stamped > self.past:
            return f"signature timestamp outside the window: older than {self.past:.0f} s"
        return None

    @property
    def memory(self) -> float:
        """Seconds a used signature is remembered: accepted at `now`, it is valid until at most
        `now + future + past`, so it is remembered that long."""
        return self.past + self.future


# one for every signed post: ours and SendGrid's share first_use_of_signature's table, and its
# purge keeps rows for the caller's memory, so a shorter one would forget the other's too soon
FRESHNESS = Freshness()
