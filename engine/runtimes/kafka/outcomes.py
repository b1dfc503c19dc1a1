"""The records topic: a batch's outcome records (SPEC §7), one message per events partition.

The value is the records of the partition's inputs in the batch, in order, as one JSON list (the
form a message of one input's records had before, so a reader of values is unchanged). Headers
say which inputs they came from: the events `partition`, and per input its offset and how many
of the records are its own (`inputs`). A batch taken again after a worker was killed sends its
inputs' records again; the edge keeps, per events partition, the last input whose records it
stored, and passes over any input up to it. A message is keyed by its events partition, so the
messages of one partition, and with them every customer's records, keep their order.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import orjson

PARTITION, INPUTS = "partition", "inputs"

Inputs = list[tuple[int, list[dict[str, Any]]]]  # (events offset, its records), in offset order


def message(partition: int, inputs: Inputs) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the message for one partition's inputs."""
    value = orjson.dumps([record for _, records in inputs for record in records])
    headers = [(PARTITION, b"%d" % partition), (INPUTS, orjson.dumps([[offset, len(rs)] for offset, rs in inputs]))]
    return b"partition:%d" % partition, value, headers


def unread(value: bytes, headers: Iterable[tuple[str, bytes]], taken: dict[int, int]) -> list[dict[str, Any]]:
    """The records of the message's inputs past those `taken` (events partition -> the last input
    stored), which moves on past them. A message without the headers (from a worker before this
    form) is one input's records, all of them new."""
    records: list[dict[str, Any]] = orjson.loads(value)
    found = dict(headers)
    if PARTITION not in found:
        return records
    partition = int(found[PARTITION])
    inputs: Sequence[tuple[int, int]] = orjson.loads(found[INPUTS])
    fresh, at = [], 0
    for offset, count in inputs:
        if offset > taken.get(partition, -1):
            fresh += records[at:at + count]
            taken[partition] = offset
        at += count
    return fresh
