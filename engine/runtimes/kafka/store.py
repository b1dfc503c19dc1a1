"""The Store port on faust tables, for the one customer record an input may change.

Kafka writes no two partitions atomically, so everything one input changes for its customer
is one table value, a `Record`: the state, its timers, the events-topic offset of the last
input applied to it, and the ids (event, forward and absorb ids) of its latest inputs. A worker
killed half-way through writing a batch's changelog leaves each record either before or after
an input, never torn; the input is processed again, and a record that already carries its
offset is not changed twice. Keeping the ids in the record makes one changelog write per input
instead of two; a record keeps its latest `SEEN_KEPT` ids, and an older one moves to the
`seen` table (id -> the input that moved it), where lookups find it too.

Keys are UTF-8 bytes (faust's raw codec), as producers outside faust write them. Aliases and
suppressions are global tables, written idempotently. Table writes are buffered and applied
only after the outputs they go with are acknowledged by the broker, and the records last,
once the other tables' writes are acknowledged too: a record that says an input was applied
must not outlive an alias or a suppression that input made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import orjson
from aiokafka.partitioner import murmur2
from faust.types.tables import TableT

from engine import state_codec
from engine.effects import Timer
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kernel.codecs import epoch, timer_from_row
from engine.state import CustomerState, anon_key

Table = TableT[bytes, Any]  # a Table or GlobalTable of raw bytes
Log = Callable[[Table, Any, bytes, "bytes | None", Acks], Awaitable[None]]  # (table, source, key, value, acks)
SEP = "\x1f"
_DELETED = object()
SEEN_KEPT = 32  # ids a record keeps inline; older ones move to the seen table


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive), as producers place keyed records."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def winner_key(journey: str, step: str, partition: int) -> bytes:
    """Where the `experiments` table keeps the winner a partition took (winners.py)."""
    return SEP.join(("w", journey, step, str(partition))).encode()


def timer_to_json(timer: Timer) -> dict[str, Any]:
    return {"due": epoch(timer.due), "key": timer.key, "kind": timer.kind, "journey": timer.journey,
            "token": timer.token}


def timer_from_json(data: dict[str, Any]) -> Timer:
    return timer_from_row(data["due"], data["key"], data["kind"], data["journey"], data["token"])


@dataclass
class Record:
    """One customer's value in the `customers` table: state, timers (id -> timer), the last input
    applied, the workspace version its instances were placed for (see live.py), for an
    anonymous profile handed over to a customer whom it `moved_to` (its later events follow),
    and the ids its latest inputs carried, oldest first (a record written before ids were kept
    here has none: its ids are in the seen table). `handed` are the anonymous ids whose hand-over
    this customer's inputs asked for: the record is written only once that request is acknowledged,
    so an id missing here while the alias says it is linked lost its request in a crash."""

    state: CustomerState | None = None
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    offset: int = -1
    version: str = ""
    moved_to: str | None = None
    seen: list[str] = field(default_factory=list)
    tests: dict[str, Any] | None = None   # the customer's exposures to content tests (winners.py)
    handed: list[str] = field(default_factory=list)

    def encode(self) -> bytes:
        """A header line, then the state: the due index and reloads read only the header."""
        head: dict[str, Any] = {"offset": self.offset, "timers": self.timers, "version": self.version,
                                "active": len(self.state.instances) if self.state is not None else 0,
                                "moved_to": self.moved_to, "seen": self.seen}
        if self.tests is not None:
            head["tests"] = self.tests
        if self.handed:
            head["handed"] = self.handed
        header = orjson.dumps(head)
        return header + b"\n" + (state_codec.dumps(self.state) if self.state is not None else b"")

    @classmethod
    def decode(cls, data: bytes) -> Record:
        header, _, state = data.partition(b"\n")
        head = orjson.loads(header)
        return cls(state_codec.loads(state) if state else None, head["timers"], head["offset"], head.get("version", ""),
                   head.get("moved_to"), head.get("seen", []), head.get("tests"), head.get("handed", []))

    @staticmethod
    def header(data: bytes) -> dict[str, Any]:
        """offset, timers, version, moved_to, seen and `active` (how many journey instances), without the state."""
        head: dict[str, Any] = orjson.loads(data.partition(b"\n")[0])
        return head


class Writes:
    """Buffered table writes that reads see at once and tables get at `apply`.

    A batch of inputs shares one `Writes`: each write remembers the input (`source`) it was
    made for, because a table's changelog record goes to the partition of that input. The
    writes of the input being handled can be rolled back (`begin`, `rollback`): an input
    the engine fails on is dead-lettered without half its changes.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, bytes], tuple[Table, Any, Any]] = {}
        self._undo: list[tuple[tuple[int, bytes], tuple[Table, Any, Any] | None]] = []
        self.source: Any = None  # the faust event the next writes belong to
        self.logged = 0  # changelog records handed out so far

    def get(self, table: Table, key: bytes) -> Any:
        found = self._pending.get((id(table), key))
        if found is None:
            return read(table, key)
        return None if found[1] is _DELETED else found[1]

    def set(self, table: Table, key: bytes, value: Any) -> None:
        pending_key = (id(table), key)
        self._undo.append((pending_key, self._pending.get(pending_key)))
        self._pending[pending_key] = (table, value, self.source)

    def delete(self, table: Table, key: bytes) -> None:
        self.set(table, key, _DELETED)

    def begin(self, source: Any) -> None:
        """The writes from here on are `source`'s, and `rollback` undoes only them."""
        self.source = source
        self._undo.clear()

    def rollback(self) -> None:
        for pending_key, before in reversed(self._undo):
            if before is None:
                del self._pending[pending_key]
            else:
                self._pending[pending_key] = before
        self._undo.clear()

    def written(self, table: Table) -> list[tuple[bytes, Any]]:
        """This batch's values for one table (None where deleted)."""
        return [(key, None if value is _DELETED else value)
                for (tid, key), (_, value, _) in self._pending.items() if tid == id(table)]

    async def send(self, log: Log, acks: Acks, but: tuple[Table, ...] = ()) -> None:
        """Hands the writes to the tables through `log`, their changelog records counted in `acks` (all but
        those of the tables named, which stay buffered)."""
        kept = {id(table) for table in but}
        sent = 0
        for pending_key, (table, value, source) in list(self._pending.items()):
            if pending_key[0] in kept:
                continue
            del self._pending[pending_key]
            await log(table, source, pending_key[1], None if value is _DELETED else value, acks)
            sent += 1
        self._undo.clear()
        self.logged += sent

    async def apply(self, log: Log, but: tuple[Table, ...] = ()) -> None:
        """`send`, then wait until the broker has every changelog record."""
        acks = Acks()
        await self.send(log, acks, but)
        await acks.wait()


def read(table: Table, key: bytes) -> Any:
    """A table's value (None if it has none). A faust table is read from its store (`data`): its own
    `get` adds the monitor's hook and a KeyError raised and caught through three mappings for every
    key it lacks, most of the reads of a new customer's input. Plain mappings (tests) are read as such."""
    store: Any = getattr(table, "data", table)
    return store.get(key)


class FaustStore:
    """The engine's view while one input (at `offset` of `partition`) is handled for `key`.

    Only the input's own customer is here: any other key is another input's (or partition's)
    business, so reading it gives None and the worker hands profiles over by message instead.
    One store serves input after input (`open`): the engine built on it lives as long as its
    workspace version, not one input (building an engine per input cost a worker more than its
    codecs did).
    """

    key: str
    _raw: bytes  # the key as the customers table keeps it
    partition: int
    offset: int
    writes: Writes
    record: Record
    links: list[tuple[str, str]]  # (anonymous id, customer id) linked in this call
    # an anonymous id the input itself says is this customer's (a forwarded event, a timer
    # that came with a hand-over): the global aliases table may not have caught up with it
    owns: str | None

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def open(self, key: str, partition: int, offset: int, writes: Writes) -> FaustStore:
        """This store, now for the input at `offset` of `partition`, keyed `key`, writing to `writes`."""
        self.key, self.writes, self.partition, self.offset = key, writes, partition, offset
        self._raw = key.encode()
        data = writes.get(self.tables.customers, self._raw)
        self.record = Record.decode(data) if data else Record()
        self.links = []
        self.owns = None
        return self

    def save(self, offset: int) -> None:
        """The record after this input, written whole. A record whose profile moved away stays as
        a husk (no state, its offset): deleting it would let an earlier input, processed again
        after a crash, bring the moved profile back to life."""
        self.record.offset = offset
        self.save_again()

    def save_again(self) -> None:
        """The record as it is, once more: a RocksDB store keeps what it wrote even when the
        changelog send failed, so an input found applied locally may be missing from the log."""
        self.writes.set(self.tables.customers, self._raw, self.record.encode())

    def erase(self) -> None:
        """GDPR erasure: the record goes, offset and all."""
        self.writes.delete(self.tables.customers, self._raw)

    def customer(self, key: str) -> CustomerState | None:
        return self.record.state if key == self.key else None

    def put_customer(self, state: CustomerState) -> None:
        if state.key != self.key:  # a bug, not bad input: the input is dead-lettered
            raise RuntimeError(f"an input for {self.key!r} changed {state.key!r}")
        self.record.state = state

    def drop_customer(self, key: str) -> None:
        if key == self.key:
            self.record.state = None

    def alias(self, anonymous_id: str) -> str | None:
        """The customer an anonymous id is linked to. An anonymous profile's own record is the
        authority on itself: until the hand-over reaches it, its profile lives here."""
        if anonymous_id == self.owns:
            return self.key
        if self.key == anon_key(anonymous_id):
            return None
        return self.linked(anonymous_id)

    def linked(self, anonymous_id: str) -> str | None:
        """What the global aliases table (and this batch) says, whatever record is at hand."""
        value = self.writes.get(self.tables.aliases, anonymous_id.encode())
        return value.decode() if value else None

    def aliases_of(self, customer_id: str) -> list[str]:
        """The anonymous ids linked to a customer, this batch's links included (for erasure)."""
        owner = customer_id.encode()
        found = {alias for alias, value in self.tables.aliases.items() if value == owner}
        for alias, value in self.writes.written(self.tables.aliases):
            (found.add if value == owner else found.discard)(alias)
        return sorted(a.decode() for a in found)

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self.writes.set(self.tables.aliases, anonymous_id.encode(), customer_id.encode())
        self.links.append((anonymous_id, customer_id))

    def marker(self) -> bytes:
        """The input at hand, as the seen table marks the ids it moved there (made only then: most inputs never do)."""
        return f"{self.partition}:{self.offset}".encode()

    def seen(self, event_id: str) -> bool:
        """Taken by an earlier input of this record, or in the seen table by another input than this
        one (a table entry written by this very input, before a crash, makes no duplicate)."""
        if event_id in self.record.seen:
            return True
        marker = self.writes.get(self.tables.seen, event_id.encode())
        return marker is not None and marker != self.marker()

    def remember(self, event_id: str) -> None:
        """Kept in the record, written with it; the oldest id beyond `SEEN_KEPT` moves to the table."""
        self.record.seen.append(event_id)
        while len(self.record.seen) > SEEN_KEPT:
            self.writes.set(self.tables.seen, self.record.seen.pop(0).encode(), self.marker())

    def suppression(self, address: str) -> str | None:
        value = self.writes.get(self.tables.suppressions, address.lower().encode())
        return value.decode() if value else None

    def suppress(self, address: str, reason: str) -> None:
        if self.suppression(address) is None:
            self.writes.set(self.tables.suppressions, address.lower().encode(), reason.encode())

    def winner(self, journey: str, step: str) -> str | None:
        """As this partition took it, at its own offset (winners.py); None where winners are not kept."""
        table = self.tables.experiments
        if table is None:
            return None
        value = self.writes.get(table, winner_key(journey, step, self.partition))
        return value.decode() if value else None


@dataclass(frozen=True)
class Tables:
    customers: Table
    seen: Table
    aliases: Table
    suppressions: Table
    progress: Table  # see progress.py
    experiments: Table | None = None  # global: content tests' tallies and winners (winners.py)
