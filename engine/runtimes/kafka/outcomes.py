"""The records topic: a batch's outcome records (SPEC §7), one message per events partition (more if big).

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
LIMIT = 512 * 1024  # bytes of a message's value, well under what librdkafka sends and the broker takes (1,000,000 each)

Inputs = list[tuple[int, list[dict[str, Any]]]]  # (events offset, its records), in offset order


def messages(partition: int, inputs: Inputs) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """Key, value and headers of the messages for one partition's inputs: one, unless its value would be
    over `LIMIT` bytes, then the inputs split in halves until each part's is under it (an input's records
    go whole, alone if they must). A send record carries the message's text, so a batch's records for
    one partition can outgrow what the broker takes in one message, and a batch that cannot be written
    is taken again and again."""
    value = orjson.dumps([record for _, records in inputs for record in records])
    if len(value) > LIMIT and len(inputs) > 1:
        half = len(inputs) // 2
        return messages(partition, inputs[:half]) + messages(partition, inputs[half:])
    headers = [(PARTITION, b"%d" % partition), (INPUTS, orjson.dumps([[offset, len(rs)] for offset, rs in inputs]))]
    return [(b"partition:%d" % partition, value, headers)]


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
