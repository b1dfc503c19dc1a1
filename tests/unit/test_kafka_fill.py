"""How the worker takes its batches: how long one waits to fill (fill.FillWindow: the short window while
inputs come one by one, so a lone event goes out as fast as before; a longer one only while a backlog
fills batches), and faust_internals.take_batches, which takes them off the stream's channel with that window,
the next batch filling while one is handled, deciding what is acknowledged as faust's stream does."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("faust")

from engine.runtimes.kafka.faust_internals import take_batches  # noqa: E402
from engine.runtimes.kafka.fill import FillWindow  # noqa: E402


def test_a_lone_event_after_an_idle_spell_waits_the_short_window() -> None:
    window = FillWindow(idle=0.02, backlog=0.05, backlog_at=100)
    assert window() == 0.02
    window.took(1)
    assert window() == 0.02


def test_after_a_batch_that_shows_a_backlog_the_next_waits_longer_to_fill() -> None:
    window = FillWindow(idle=0.02, backlog=0.05, backlog_at=100)
    window.took(100)
    assert window() == 0.05
    window.took(480)
    assert window() == 0.05


def test_the_short_window_comes_back_as_soon_as_a_batch_is_small_again() -> None:
    window = FillWindow(idle=0.02, backlog=0.05, backlog_at=100)
    window.took(300)
    window.took(99)
    assert window() == 0.02


def test_faust_streams_events_as_the_workers_take_loop_expects() -> None:
    """faust_internals.take_batches does, per event, what the stream's loop (its Cython version, which runs, and
    its Python one) and `take_events` do to decide what is committed, and decodes as the conductor asks: a faust that changes
    those lines fails here."""
    import faust
    from faust.streams import Stream
    from faust.topics import Topic
    from faust.transport import conductor

    loop = inspect.getsource(Stream._py_aiter)
    for line in ("not self.app.flow_control.is_active()", "message.generation_id != self.app.consumer_generation_id",
                 "if topic in acking_topics and not message.tracked:", "message.tracked = True", "add_unacked(message)",
                 "on_message_in(message.tp, message.offset, message)", "last_stream_to_ack = event.ack()",
                 "on_message_out(tp, offset, message)", "raise chan_errors.popleft()",
                 "chan_quick_get = chan_queue.get_nowait", "except StopAsyncIteration:"):
        assert line in loop, line  # faust's loop changed: compare it with faust_internals._take
    cython = (Path(faust.__file__).parent / "_cython" / "streams.pyx").read_text()
    for line in ("not self.app.flow_control.is_active()", "message.generation_id != self.app.consumer_generation_id",
                 "if topic in self.acking_topics and not message.tracked:", "self.add_unacked(message)"):
        assert line in cython, line
    assert "return None, self._skipped_value, stream_state" in cython  # a skipped event: none to acknowledge
    assert "self.enable_acks = False" in inspect.getsource(Stream.take_events)  # it acks after the batch, as _take does
    assert "self.app.topics.add(cast(TopicT, channel))" in inspect.getsource(Topic.__aiter__)
    assert "event = await chan.decode(message, propagate=True)" in inspect.getsource(conductor)
    assert "cast(\"Stream\", self)._active_agens.add(agen)" in inspect.getsource(inspect.getmodule(Stream))  # type: ignore[arg-type]


class Feed:
    """A real faust app (never started: no broker), a stream over a raw topic, and events put on the channel
    the conductor would deliver to, as it puts them."""

    def __init__(self, tmp: str) -> None:
        import faust

        self.app = faust.App("fill-test", broker="kafka://127.0.0.1:1", datadir=tmp, web_enabled=False)
        self.topic = self.app.topic("events", key_type=bytes, value_type=bytes, key_serializer="raw",
                                    value_serializer="raw", partitions=1)
        self.stream = self.app.stream(self.topic)
        self.app.flow_control.resume()
        self.app.consumer_generation_id = 3
        self.offset = 0

    def message(self, generation: int = 3) -> Any:
        from faust.types import TP
        from faust.types.tuples import ConsumerMessage

        self.offset += 1
        return ConsumerMessage("events", 0, self.offset, 0.0, 0, [], b"k", f"v{self.offset}".encode(), None,
                       tp=TP("events", 0), generation_id=generation)

    async def put(self, generation: int = 3) -> Any:
        message = self.message(generation)
        message.incref(1)  # as the conductor counts the one channel it delivers to
        await self.app.topics._update_indices()  # what subscribing does: the topic's acks are then counted
        channel = next(iter(self.app.topics))
        channel.queue.put_nowait(await channel.decode(message, propagate=True))  # its `put` waits out flow control
        return message


def values(batch: list[Any]) -> list[bytes]:
    return [event.value for event in batch]


def test_the_next_batch_fills_while_one_is_handled_and_each_is_acknowledged_only_after_it(tmp_path: Any) -> None:
    async def main() -> None:
        feed = Feed(str(tmp_path))
        batches = take_batches(feed.stream, 3, lambda: 0.001)
        assert len(feed.app.topics) == 1  # the channel the conductor delivers to: the stream's clone of the topic
        first = await feed.put()
        assert values(await batches.__anext__()) == [b"v1"]
        assert first in feed.app.consumer.unacked and not first.acked  # a rebalance waits for it
        second = await feed.put()  # while the first batch is being handled
        assert not first.acked
        assert values(await batches.__anext__()) == [b"v2"]
        assert first.acked and first not in feed.app.consumer.unacked and 1 in feed.app.consumer._acked_index[first.tp]
        await batches.aclose()
        assert second.acked

    asyncio.run(main())


def test_a_batch_takes_at_most_its_size_and_leaves_the_rest_for_the_next(tmp_path: Any) -> None:
    async def main() -> None:
        feed = Feed(str(tmp_path))
        batches = take_batches(feed.stream, 3, lambda: 0.001)
        for _ in range(5):
            await feed.put()
        assert values(await batches.__anext__()) == [b"v1", b"v2", b"v3"]
        assert values(await batches.__anext__()) == [b"v4", b"v5"]
        await batches.aclose()

    asyncio.run(main())


def test_events_fetched_before_partitions_moved_are_skipped_and_not_acknowledged(tmp_path: Any) -> None:
    """An event of an earlier consumer generation, or one taken while flow control is suspended, is not handled:
    the consumer takes its partition again from the committed offset. Not acknowledged either (as faust's
    Cython loop): its offset in the acked list could let a commit pass an input of the new generation."""
    async def main() -> None:
        feed = Feed(str(tmp_path))
        batches = take_batches(feed.stream, 10, lambda: 0.001)
        stale = await feed.put(generation=2)
        await feed.put()
        assert values(await batches.__anext__()) == [b"v2"]
        assert not stale.acked and stale not in feed.app.consumer.unacked
        assert 1 not in feed.app.consumer._acked_index[stale.tp]
        feed.app.flow_control.suspend()
        suspended = await feed.put()
        taking = asyncio.ensure_future(batches.__anext__())
        await asyncio.sleep(0.02)
        assert not taking.done() and not suspended.acked
        feed.app.flow_control.resume()
        await feed.put()
        assert values(await taking) == [b"v4"]
        await batches.aclose()

    asyncio.run(main())


def test_the_events_topic_is_decoded_as_faust_decodes_a_raw_topic(tmp_path: Any) -> None:
    async def main() -> None:
        feed = Feed(str(tmp_path))
        take_batches(feed.stream, 1, lambda: 0.001)
        channel = next(iter(feed.app.topics))
        message = feed.message()
        message.headers = [("h", b"1")]
        ours, fausts = await channel.decode(message, propagate=True), await feed.topic.decode(message, propagate=True)
        assert (ours.key, ours.value, ours.headers, ours.message) == (fausts.key, fausts.value, fausts.headers, message)
        assert (ours.key, ours.value) == (b"k", b"v1")

    asyncio.run(main())


def test_a_stop_thrown_into_the_queue_ends_the_batches_without_acknowledging_what_was_taken(tmp_path: Any) -> None:
    """faust stops an agent's actor by throwing StopAsyncIteration into its channel's queue; raised inside an
    async generator it became a RuntimeError, logged as an agent crash at every stop."""
    async def main() -> None:
        feed = Feed(str(tmp_path))
        batches = take_batches(feed.stream, 10, lambda: 0.05)
        taken = await feed.put()
        taking = asyncio.ensure_future(batches.__anext__())
        await asyncio.sleep(0)
        await next(iter(feed.app.topics)).throw(StopAsyncIteration())
        with pytest.raises(StopAsyncIteration):
            await taking
        assert not taken.acked

    asyncio.run(main())
