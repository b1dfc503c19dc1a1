"""How a batch leaves the worker: what the broker must have acknowledged before each table write
goes out, and the tally of changelog records per input. The broker is a stand-in whose
acknowledgements the test gives; tests/kafka runs the same code on a real one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from engine.runtimes.kafka.batch import Batch
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.progress import Tally
from engine.runtimes.kafka.store import Tables


def test_customer_records_go_out_after_the_outputs_and_links_are_acknowledged_and_the_count_last() -> None:
    t = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
    names = {id(table): name for name, table in vars(t).items()}
    sent: list[tuple[str, Acks]] = []  # what went to the broker, in order, each counted in its group
    acknowledged: set[int] = set()  # which of them the broker has taken (by place in `sent`)

    async def main() -> None:
        def out(name: str, acks: Acks) -> None:
            acks.waiting += 1
            sent.append((name, acks))

        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            out(topic, acks)

        async def log(table: Any, source: Any, key: bytes, value: bytes | None, acks: Acks) -> None:
            out(names[id(table)], acks)

        batch = Batch(send, t.progress, {}, records_topic="records")
        batch.begin(SimpleNamespace(message=SimpleNamespace(partition=0, offset=0)))
        for table in (t.customers, t.seen, t.aliases, t.progress):
            batch.writes.set(table, b"k", b"v")
        batch.send("outbox", "m1", b"{}")
        batch.record([{"type": "entered"}])
        await batch.release()
        finishing = asyncio.create_task(batch.finish(log, t.customers, t.progress))
        for expected in (["outbox", "records", "seen", "aliases"], ["customers"], ["progress"]):
            for _ in range(20):  # let the batch go as far as it can without more acknowledgements
                await asyncio.sleep(0)
            assert [name for n, (name, _) in enumerate(sent) if n not in acknowledged] == expected  # nothing later
            for n, (_, acks) in enumerate(sent):
                if n not in acknowledged:
                    acknowledged.add(n)
                    acks.report(None, None)
        await finishing
        assert batch.writes.logged == 4

    asyncio.run(main())


def test_the_tally_reports_changelog_records_per_input_once_a_minute_while_inputs_come() -> None:
    now = [0.0]
    tally = Tally(clock=lambda: now[0], every=60.0)
    tally.add(200, 208)
    assert tally.report() is None  # too soon
    now[0] = 61.0
    assert tally.report() == "200 inputs received, 208 changelog records written (1.04 per input) since start"
    now[0] = 200.0
    assert tally.report() is None  # nothing new


def test_outputs_reach_the_producer_together_when_the_batch_is_done_not_as_each_input_is_handled() -> None:
    t = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
    sent: list[tuple[str, bytes | None]] = []

    async def main() -> None:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            sent.append((topic, key))  # taken at once: nothing for `acks` to wait for

        batch = Batch(send, t.progress, {}, records_topic="records")
        for offset in range(3):
            batch.begin(SimpleNamespace(message=SimpleNamespace(partition=0, offset=offset)))
            batch.send("outbox", f"m{offset}", b"{}")
            await batch.release()
        assert sent == []  # librdkafka sends a burst in a few requests, a trickle a few records a request
        await batch.flush()
        assert sent == [("outbox", b"m0"), ("outbox", b"m1"), ("outbox", b"m2")]

    asyncio.run(main())
