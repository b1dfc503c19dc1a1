"""The Store port on faust tables, for the one customer record an input may change.

Kafka writes no two partitions atomically, so everything one input changes for its customer
is one table value, a `Record`: the state, its timers, and the events-topic offset of the last
input applied to it. A worker killed half-way through writing a batch's changelog leaves
each record either before or after an input, never torn; the input is processed again, and a
record that already carries its offset is not changed twice. The `seen` table (duplicate
event ids) marks each id with the input that first saw it, so the same input processed again
is not taken for a duplicate of itself.

Keys are UTF-8 bytes (faust's raw codec), as producers outside faust write them. Aliases and
suppressions are global tables, written idempotently. Table writes are buffered and applied
only after the outputs they go with are acknowledged by the broker, and the records last,
once the other tables' writes are acknowledged too: a record that says an input was applied
must not outlive an alias or a suppression that input made.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, MutableMapping

import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event

from engine import state_codec
from engine.effects import Timer
from engine.runtimes.embedded.processor import epoch, from_epoch
from engine.state import CustomerState

Table = MutableMapping[bytes, Any]
_DELETED = object()


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive), as producers place keyed records."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def timer_to_json(timer: Timer) -> dict[str, Any]:
    return {"due": epoch(timer.due), "key": timer.key, "kind": timer.kind, "journey": timer.journey,
            "token": timer.token}


def timer_from_json(data: dict[str, Any]) -> Timer:
    return Timer(from_epoch(data["due"]), data["key"], data["kind"], data["journey"], data["token"])


@dataclass
class Record:
    """One customer's value in the `customers` table: state, timers (id -> timer), the last input
    applied, and the workspace version its instances were placed for (see live.py)."""

    state: CustomerState | None = None
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    offset: int = -1
    version: str = ""

    def encode(self) -> bytes:
        """A header line, then the state: the due index and reloads read only the header."""
        header = orjson.dumps({"offset": self.offset, "timers": self.timers, "version": self.version,
                               "active": len(self.state.instances) if self.state is not None else 0})
        return header + b"\n" + (state_codec.dumps(self.state) if self.state is not None else b"")

    @classmethod
    def decode(cls, data: bytes) -> Record:
        header, _, state = data.partition(b"\n")
        head = orjson.loads(header)
        return cls(state_codec.loads(state) if state else None, head["timers"], head["offset"], head.get("version", ""))

    @staticmethod
    def header(data: bytes) -> dict[str, Any]:
        """offset, timers, version and `active` (how many journey instances) without the state."""
        head: dict[str, Any] = orjson.loads(data.partition(b"\n")[0])
        return head


class Writes:
    """Buffered table writes that reads see at once and tables get at `apply`.

    A batch of inputs shares one `Writes`: each write remembers the input (`source`) it was
    made for, because faust sends a table's changelog record to the partition of the input
    being processed, and at `apply` the whole batch is done.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, bytes], tuple[Table, Any, Any]] = {}
        self.source: Any = None  # the faust event the next writes belong to

    def get(self, table: Table, key: bytes) -> Any:
        found = self._pending.get((id(table), key))
        if found is None:
            return table.get(key)
        return None if found[1] is _DELETED else found[1]

    def set(self, table: Table, key: bytes, value: Any) -> None:
        self._pending[(id(table), key)] = (table, value, self.source)

    def delete(self, table: Table, key: bytes) -> None:
        self._pending[(id(table), key)] = (table, _DELETED, self.source)

    def written(self, table: Table) -> list[tuple[bytes, Any]]:
        """This batch's values for one table (None where deleted)."""
        return [(key, None if value is _DELETED else value)
                for (tid, key), (_, value, _) in self._pending.items() if tid == id(table)]

    def apply(self, but: Table | None = None) -> None:
        """Hands the writes to the tables (all, or all `but` one table's, which stay buffered)."""
        for pending_key, (table, value, source) in list(self._pending.items()):
            if table is but:
                continue
            del self._pending[pending_key]
            token = _current_event.set(weakref.ref(source) if source is not None else None)
            try:
                if value is _DELETED:
                    if pending_key[1] in table:
                        del table[pending_key[1]]
                else:
                    table[pending_key[1]] = value  # reassigned: faust logs only assignments
            finally:
                _current_event.reset(token)


class FaustStore:
    """The engine's view while one input (at `offset` of `partition`) is handled for `key`.

    Only the input's own customer is here: any other key is another input's (or partition's)
    business, so reading it gives None and the worker hands profiles over by message instead.
    """

    def __init__(self, tables: Tables, key: str, partition: int, offset: int, writes: Writes) -> None:
        self.tables, self.key, self.writes = tables, key, writes
        self.marker = f"{partition}:{offset}".encode()
        data = writes.get(tables.customers, key.encode())
        self.record = Record.decode(data) if data else Record()
        self.links: list[tuple[str, str]] = []  # (anonymous id, customer id) linked in this call

    def save(self, offset: int) -> None:
        """The record after this input, written whole. A record whose profile moved away stays as
        a husk (no state, its offset): deleting it would let an earlier input, processed again
        after a crash, bring the moved profile back to life."""
        self.record.offset = offset
        self.writes.set(self.tables.customers, self.key.encode(), self.record.encode())

    def erase(self) -> None:
        """GDPR erasure: the record goes, offset and all."""
        self.writes.delete(self.tables.customers, self.key.encode())

    def customer(self, key: str) -> CustomerState | None:
        return self.record.state if key == self.key else None

    def put_customer(self, state: CustomerState) -> None:
        assert state.key == self.key, f"an input for {self.key!r} changed {state.key!r}"
        self.record.state = state

    def drop_customer(self, key: str) -> None:
        if key == self.key:
            self.record.state = None

    def alias(self, anonymous_id: str) -> str | None:
        value = self.writes.get(self.tables.aliases, anonymous_id.encode())
        return value.decode() if value else None

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self.writes.set(self.tables.aliases, anonymous_id.encode(), customer_id.encode())
        self.links.append((anonymous_id, customer_id))

    def seen(self, event_id: str) -> bool:
        """Seen by another input: this one, processed again after a crash, is no duplicate."""
        marker = self.writes.get(self.tables.seen, event_id.encode())
        return marker is not None and marker != self.marker

    def remember(self, event_id: str) -> None:
        self.writes.set(self.tables.seen, event_id.encode(), self.marker)

    def suppression(self, address: str) -> str | None:
        value = self.writes.get(self.tables.suppressions, address.lower().encode())
        return value.decode() if value else None

    def suppress(self, address: str, reason: str) -> None:
        if self.suppression(address) is None:
            self.writes.set(self.tables.suppressions, address.lower().encode(), reason.encode())


@dataclass(frozen=True)
class Tables:
    customers: Table
    seen: Table
    aliases: Table
    suppressions: Table
