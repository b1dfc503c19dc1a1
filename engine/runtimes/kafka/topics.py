"""A worker's topics made before faust subscribes, and waited for until the broker's metadata shows them.

faust creates the tables' changelog topics itself, at the same time as its consumer joins the group.
When the group's assignment runs before the broker's metadata shows a global table's changelog, faust's
assignor fails on the missing topic (a `KeyError`, logged only as `Ignoring missing topic`) and the worker
waits for ever without partitions: about half of a deployment's first starts did. Made here first, the
topics are there for every assignment; faust finds them made and leaves them as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where it is defined: confluent_kafka.admin imports it without re-exporting it (2.16's stubs)

TIMEOUT = 30.0  # seconds for the broker to make the topics and show them, before the worker gives up


@dataclass(frozen=True)
class Wanted:
    """A topic the worker reads or writes, as faust would make it."""

    name: str
    compacted: bool = False


def declare(bootstrap: str, wanted: list[Wanted], partitions: int, timeout: float = TIMEOUT) -> None:
    """Creates the missing ones, then waits until the metadata lists each with its partitions; raises
    `TimeoutError` naming those still missing."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    missing = [w for w in wanted if w.name not in admin.list_topics(timeout=timeout).topics]
    if missing:
        made = admin.create_topics([NewTopic(w.name, partitions, 1, config={"cleanup.policy": "compact"} if w.compacted
                                             else {}) for w in missing], operation_timeout=timeout)
        for future in made.values():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # made meanwhile by another worker
                    raise
    names = {w.name for w in wanted}
    while True:
        shown = admin.list_topics(timeout=max(0.1, deadline - time.monotonic())).topics
        absent = sorted(n for n in names if n not in shown or shown[n].error is not None or not shown[n].partitions)
        if not absent:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not show topics {', '.join(absent)} within {timeout:.0f} s")
        time.sleep(0.1)
