"""The faust-streaming internals the worker relies on, all here: a release that changes one fails
tests/unit/test_dependency_canaries.py rather than a running worker (pyproject.toml pins faust below
its next minor version).

- `faust.streams._current_event`: the stream event a table write belongs to (it picks the
  changelog partition); set here around each buffered write.
- `Table.send_changelog(partition, key, value, ...)` returning the send's future, and
  `Table.data`, the table's store: a table's `__setitem__` would log the same record without
  handing back the future that says the broker has it.
- `app.producer.send(topic, key, value, partition, timestamp, headers)`: faust's producer
  directly, cheaper than a topic's own `send` (codecs, callbacks) per output.
"""

from __future__ import annotations

import weakref
from typing import Any, Awaitable

from faust.streams import _current_event
from faust.types.tables import TableT


def write_changelog(table: TableT[bytes, Any], source: Any, key: bytes, value: bytes | None) -> Awaitable[Any]:
    """Store `value` (None: delete) under `key` and log it to the changelog partition of `source`'s
    message; returns the future of the changelog send."""
    token = _current_event.set(weakref.ref(source))
    try:
        partition = source.message.partition
        if value is None:
            sent = table.send_changelog(partition, key, None, value_serializer="raw")
            if key in table.data:
                del table.data[key]
        else:
            sent = table.send_changelog(partition, key, value)
            table.data[key] = value
        return sent
    finally:
        _current_event.reset(token)


async def produce(app: Any, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Any:
    """Hands one record to faust's producer; returns the future of its acknowledgement."""
    return await app.producer.send(topic, key, value, None, None, headers)
