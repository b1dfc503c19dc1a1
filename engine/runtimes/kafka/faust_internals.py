"""The faust-streaming internals the worker relies on, all here: a release that changes one fails
tests/unit/test_dependency_canaries.py rather than a running worker (pyproject.toml pins faust below
its next minor version).

- `faust.streams._current_event`: the stream event a table write belongs to (it picks the
  changelog partition); set here around each buffered write.
- `Table.data`, the table's store, with `set_persisted_offset`, and `Table.changelog_topic`: a
  table's `__setitem__` would log the same record through faust's producer buffer, without
  handing back the future that says the broker has it (see `write_changelog`).
- `app.consumer._thread.seek_wait`: a seek made on the consumer's own thread
  (see `seek_on_consumer_thread`).
"""

from __future__ import annotations

import asyncio
import weakref
from functools import partial
from typing import Any, Awaitable, Callable

from faust.streams import _current_event
from faust.types import TP
from faust.types.tables import TableT

from engine.runtimes.kafka.producer import Delivered

# topic, key, value, headers, partition -> the future of the broker's acknowledgement (producer.py)
Produce = Callable[[str, bytes | None, bytes | None, Any, int | None], Awaitable["asyncio.Future[Delivered]"]]


async def write_changelog(produce: Produce, table: TableT[bytes, Any], source: Any, key: bytes,
                          value: bytes | None) -> Awaitable[Any]:
    """Store `value` (None: delete) under `key` and log it with `produce` to the changelog partition
    of `source`'s message; returns the future of the changelog send. The record goes straight to
    the worker's producer: `send_changelog` queues it in faust's buffer, whose one task publishes
    a record at a time and made a batch's changelog writes cost more than its processing."""
    token = _current_event.set(weakref.ref(source))
    try:
        partition = source.message.partition
        if value is None:
            if key in table.data:
                del table.data[key]
        else:
            table.data[key] = value
    finally:
        _current_event.reset(token)
    sent = await produce(table.changelog_topic.get_topic_name(), key, value, None, partition)
    sent.add_done_callback(partial(_persisted, table))
    return sent


def _persisted(table: TableT[bytes, Any], sent: asyncio.Future[Delivered]) -> None:
    """What faust's own changelog callback does: a RocksDB store notes the offset it holds data up to."""
    store: Any = table.data  # a faust Store; the table's type names only its mapping side
    if not sent.cancelled() and sent.exception() is None:
        at = sent.result()
        store.set_persisted_offset(TP(at.topic, at.partition), at.offset)


async def seek_on_consumer_thread(app: Any, topic: str, partition: int, offset: int) -> None:
    """Sends the consumer back to `offset`. faust's `Consumer.seek` calls aiokafka's seek from the
    worker's event loop, while aiokafka's fetcher runs on the consumer thread's loop: wake-ups made
    from the wrong thread are lost, and a fetcher left waiting stopped delivering inputs and
    changelog records (a recovery that never ended). `seek_wait` runs the seek on that thread."""
    await app.consumer._thread.seek_wait({TP(topic, partition): offset})
