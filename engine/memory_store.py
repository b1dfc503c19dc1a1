"""In-memory Store: `simulate` and tests; the embedded runtime has a SQLite one."""

from __future__ import annotations

from engine.state import CustomerState


class MemoryStore:
    def __init__(self) -> None:
        self.customers: dict[str, CustomerState] = {}
        self.aliases: dict[str, str] = {}
        self.event_ids: set[str] = set()
        self.suppressions: dict[str, str] = {}
        self.winners: dict[tuple[str, str], str] = {}   # (journey, step) -> the variant every send now takes

    def customer(self, key: str) -> CustomerState | None:
        return self.customers.get(key)

    def put_customer(self, state: CustomerState) -> None:
        self.customers[state.key] = state

    def drop_customer(self, key: str) -> None:
        self.customers.pop(key, None)

    def alias(self, anonymous_id: str) -> str | None:
        return self.aliases.get(anonymous_id)

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self.aliases[anonymous_id] = customer_id

    def seen(self, event_id: str) -> bool:
        return event_id in self.event_ids

    def remember(self, event_id: str) -> None:
        self.event_ids.add(event_id)

    def suppression(self, address: str) -> str | None:
        return self.suppressions.get(address.lower())

    def suppress(self, address: str, reason: str) -> None:
        self.suppressions.setdefault(address.lower(), reason)

    def winner(self, journey: str, step: str) -> str | None:
        return self.winners.get((journey, step))
