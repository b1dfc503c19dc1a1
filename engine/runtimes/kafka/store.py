"""The Store port on faust tables, for the partition being processed.

Keys are UTF-8 bytes (faust's raw codec), as producers outside faust write them. Customer
states live in the partition of their key; a key of another partition is not here (it is
another worker's), so reading it gives None and the worker asks that partition to hand the
profile over. Aliases and suppressions are global tables.

Table writes are buffered and applied only after the outputs they go with are acknowledged
by the broker: a worker killed in between reprocesses the input (at-least-once) instead of
finding it marked done with its messages lost.
"""

from __future__ import annotations

from typing import Any, MutableMapping

from aiokafka.partitioner import murmur2

from engine import state_codec
from engine.state import CustomerState

Table = MutableMapping[bytes, Any]
_DELETED = object()


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive), as producers place keyed records."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Writes:
    """Buffered table writes that reads see at once and tables get at `apply`."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, bytes], tuple[Table, Any]] = {}

    def get(self, table: Table, key: bytes) -> Any:
        found = self._pending.get((id(table), key))
        if found is None:
            return table.get(key)
        return None if found[1] is _DELETED else found[1]

    def set(self, table: Table, key: bytes, value: Any) -> None:
        self._pending[(id(table), key)] = (table, value)

    def delete(self, table: Table, key: bytes) -> None:
        self._pending[(id(table), key)] = (table, _DELETED)

    def apply(self) -> None:
        for (_, key), (table, value) in self._pending.items():
            if value is _DELETED:
                if key in table:
                    del table[key]
            else:
                table[key] = value  # reassigned: faust logs only assignments
        self._pending.clear()


class FaustStore:
    def __init__(self, customers: Table, seen: Table, aliases: Table, suppressions: Table,
                 partition: int, partitions: int, writes: Writes) -> None:
        self.customers, self.seen_ids, self.aliases, self.suppressions = customers, seen, aliases, suppressions
        self.partition, self.partitions = partition, partitions
        self.writes = writes
        self.links: list[tuple[str, str]] = []  # (anonymous id, customer id) linked in this call

    def customer(self, key: str) -> CustomerState | None:
        if partition_for(key, self.partitions) != self.partition:
            return None
        data = self.writes.get(self.customers, key.encode())
        return state_codec.loads(data) if data else None

    def put_customer(self, state: CustomerState) -> None:
        self.writes.set(self.customers, state.key.encode(), state_codec.dumps(state))

    def drop_customer(self, key: str) -> None:
        self.writes.delete(self.customers, key.encode())

    def alias(self, anonymous_id: str) -> str | None:
        value = self.writes.get(self.aliases, anonymous_id.encode())
        return value.decode() if value else None

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self.writes.set(self.aliases, anonymous_id.encode(), customer_id.encode())
        self.links.append((anonymous_id, customer_id))

    def seen(self, event_id: str) -> bool:
        return self.writes.get(self.seen_ids, event_id.encode()) is not None

    def remember(self, event_id: str) -> None:
        self.writes.set(self.seen_ids, event_id.encode(), b"1")

    def suppression(self, address: str) -> str | None:
        value = self.writes.get(self.suppressions, address.lower().encode())
        return value.decode() if value else None

    def suppress(self, address: str, reason: str) -> None:
        if self.suppression(address) is None:
            self.writes.set(self.suppressions, address.lower().encode(), reason.encode())
