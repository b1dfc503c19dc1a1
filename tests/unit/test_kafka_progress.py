"""The worker's own count of inputs taken in per partition, and the rewind when the consumer skips
some (faust can drop messages around a rebalance and commit past them)."""

from __future__ import annotations

import asyncio

from engine.runtimes.kafka.progress import Progress, Rewinder, Stalls
from engine.runtimes.kafka.store import Writes


def test_inputs_are_taken_in_order_and_a_redelivered_one_is_passed_over() -> None:
    table: dict[bytes, bytes] = {b"2": b"9"}  # partition 2: inputs up to offset 9 are on the broker
    progress = Progress(table, Writes())  # type: ignore[arg-type]
    assert not progress.admit(2, 8)  # redelivered after a rebalance: taken in before
    assert progress.admit(2, 10)
    progress.advance(2, 10)
    assert progress.last(2) == 10 and table[b"2"] == b"9"  # the batch sees it; the table gets it at apply
    assert progress.admit(2, 11)
    assert progress.admit(1, 0)  # no count yet for partition 1: it starts at offset 0
    assert progress.rewinds == {}


def test_a_partition_with_no_count_whose_first_inputs_were_skipped_is_read_from_its_beginning() -> None:
    """The group's first rebalance committed past offsets 0..56 of a new partition, undelivered:
    the first input seen must not start the count, or those inputs are lost for good."""
    progress = Progress({}, Writes())  # type: ignore[arg-type]
    assert not progress.admit(0, 57)
    assert not progress.admit(0, 58)
    assert progress.rewinds == {0: 0}
    gone_after_retention = Progress({}, Writes(), {0: 0})  # type: ignore[arg-type]
    assert gone_after_retention.admit(0, 57)  # the beginning was deleted: asked for, given up, going on


def test_an_input_past_a_skip_waits_with_the_rest_of_its_partition_and_the_missing_are_asked_for() -> None:
    progress = Progress({b"2": b"9", b"3": b"24"}, Writes())  # type: ignore[arg-type]
    assert not progress.admit(2, 15)  # 10..14 never arrived
    assert not progress.admit(2, 16)  # behind the skip, even though it follows 15
    assert not progress.admit(2, 10)  # and those missing come after the rewind, in order
    assert progress.admit(3, 25)  # other partitions go on
    assert progress.rewinds == {2: 10}


def test_the_consumer_is_sent_back_once_a_second_per_partition_and_offset() -> None:
    now = [100.0]
    sought: list[tuple[int, int]] = []

    async def seek(partition: int, offset: int) -> None:
        if partition == 7:
            raise RuntimeError("not assigned")  # moved away meanwhile: logged, not raised
        sought.append((partition, offset))

    rewinder = Rewinder(seek, clock=lambda: now[0])
    asyncio.run(rewinder.rewind({2: 10, 7: 3}))
    asyncio.run(rewinder.rewind({2: 10}))  # inputs fetched before the seek still arriving
    now[0] += 1.5
    asyncio.run(rewinder.rewind({2: 10}))  # still not there a while later: again
    asyncio.run(rewinder.rewind({2: 12}))  # a new skip: at once
    assert sought == [(2, 10), (2, 10), (2, 12)]


def test_inputs_still_missing_after_two_minutes_of_asking_are_taken_as_gone_and_the_partition_goes_on() -> None:
    now = [0.0]

    async def seek(partition: int, offset: int) -> None:
        return None

    rewinder = Rewinder(seek, clock=lambda: now[0])
    table = {b"4": b"99"}
    for _ in range(3):  # asked again and again: 100.. were deleted by retention before being read
        progress = Progress(table, Writes(), rewinder.gone)  # type: ignore[arg-type]
        assert not progress.admit(4, 180)
        asyncio.run(rewinder.rewind(progress.rewinds))
        now[0] += 60
    assert rewinder.gone == {4: 100}
    progress = Progress(table, Writes(), rewinder.gone)  # type: ignore[arg-type]
    assert progress.admit(4, 180)


def test_a_partition_with_inputs_beyond_the_count_and_none_arriving_is_stalled() -> None:
    now = [0.0]
    stalls = Stalls(clock=lambda: now[0], after=5.0)
    stalls.own({0, 1, 2})
    done = {0: 9, 1: 4, 2: None}.get
    ends = {0: 10, 1: 12, 2: 3}.get  # 0 is caught up; 1 has 5..11 waiting; 2 never took anything in
    assert stalls.stalled(done, ends) == {}  # not yet: inputs may be on their way
    now[0] = 4.0
    stalls.heard(1)  # the consumer is delivering partition 1
    now[0] = 6.0
    assert stalls.stalled(done, ends) == {2: 0}  # from its beginning
    now[0] = 9.5
    assert stalls.stalled(done, ends) == {1: 5}
    assert stalls.stalled(done, ends) == {}  # reported once per five seconds
    stalls.own({0})  # the others moved to another worker
    now[0] = 30.0
    assert stalls.stalled(done, {0: 15}.get) == {0: 10}
