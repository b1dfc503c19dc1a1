"""The Store port on faust tables, for the partition being processed.

Keys are UTF-8 bytes (faust's raw codec), as producers outside faust write them.
Customer states live in the partition of their key; a key of another partition is not
here (it is another worker's), so reading it gives None and the worker asks that
partition to hand the profile over. Aliases and suppressions are global tables.
"""

from __future__ import annotations

from typing import Any, MutableMapping

Table = MutableMapping[bytes, Any]

from aiokafka.partitioner import murmur2

from engine import state_codec
from engine.state import CustomerState


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive), as producers place keyed records."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class FaustStore:
    def __init__(self, customers: Table, seen: Table,
                 aliases: Table, suppressions: Table,
                 partition: int, partitions: int) -> None:
        self.customers, self.seen_ids, self.aliases, self.suppressions = customers, seen, aliases, suppressions
        self.partition, self.partitions = partition, partitions
        self.links: list[tuple[str, str]] = []  # (anonymous id, customer id) linked in this call

    def customer(self, key: str) -> CustomerState | None:
        if partition_for(key, self.partitions) != self.partition:
            return None
        data = self.customers.get(key.encode())
        return state_codec.loads(data) if data else None

    def put_customer(self, state: CustomerState) -> None:
        self.customers[state.key.encode()] = state_codec.dumps(state)  # reassigned: faust logs only assignments

    def drop_customer(self, key: str) -> None:
        if key.encode() in self.customers:
            del self.customers[key.encode()]

    def alias(self, anonymous_id: str) -> str | None:
        value = self.aliases.get(anonymous_id.encode())
        return value.decode() if value else None

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self.aliases[anonymous_id.encode()] = customer_id.encode()
        self.links.append((anonymous_id, customer_id))

    def seen(self, event_id: str) -> bool:
        return event_id.encode() in self.seen_ids

    def remember(self, event_id: str) -> None:
        self.seen_ids[event_id.encode()] = b"1"

    def suppression(self, address: str) -> str | None:
        value = self.suppressions.get(address.lower().encode())
        return value.decode() if value else None

    def suppress(self, address: str, reason: str) -> None:
        if address.lower().encode() not in self.suppressions:
            self.suppressions[address.lower().encode()] = reason.encode()
