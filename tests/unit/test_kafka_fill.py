"""How the worker takes its batches: how long one waits to fill (fill.FillWindow: the short window while
inputs come one by one, so a lone event goes out as fast as before; a longer one only while a backlog
fills batches), and faust_internals.take_batches, faust's take_events with that window and with the next
batch filling while one is handled."""

from __future__ import annotations

import asyncio
import inspect
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


def test_faust_takes_events_as_the_workers_copy_of_that_loop_expects() -> None:
    """faust_internals.take_batches is a copy of `Stream.take_events`: a faust that changes it fails here."""
    from faust.streams import Stream

    take = inspect.getsource(Stream.take_events)
    for line in ("self.enable_acks = False", "self.add_processor(add_to_buffer)",
                 "self._enable_passive(cast(ChannelT, channel_it))", "event = self.current_event",
                 "await self.ack(event)", "self._processors.remove(add_to_buffer)", "await self.wait_for_stopped("):
        assert line in take, line  # faust's loop changed: compare it with faust_internals.take_batches
    assert "cast(\"Stream\", self)._active_agens.add(agen)" in inspect.getsource(inspect.getmodule(Stream))  # type: ignore[arg-type]


class Stream:
    """The part of a faust stream `take_batches` uses: its processor is fed as faust's passive
    iteration feeds it (the event set as current first); acknowledgements are noted."""

    def __init__(self) -> None:
        self.enable_acks, self.should_stop, self.current_event = True, False, None
        self.channel: list[str] = []
        self._processors: list[Any] = []
        self._active_agens: set[Any] = set()
        self.acked: list[str] = []
        self.loop = asyncio.get_running_loop()

    def add_processor(self, processor: Any) -> None:
        self._processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        pass

    async def feed(self, event: str) -> None:
        self.current_event = event  # type: ignore[assignment]
        await self._processors[0](event)

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def ack(self, event: str) -> None:
        self.acked.append(event)


def test_the_next_batch_fills_while_one_is_handled_and_each_is_acknowledged_only_after_it() -> None:
    async def main() -> None:
        stream = Stream()
        batches = take_batches(stream, 3, lambda: 0.001)
        first = asyncio.ensure_future(batches.__anext__())
        await asyncio.sleep(0)
        await stream.feed("a")
        assert await first == ["a"]
        feeding = asyncio.ensure_future(stream.feed("b"))  # while "a" is being handled
        for _ in range(5):
            await asyncio.sleep(0)
        assert feeding.done() and stream.acked == []
        assert await batches.__anext__() == ["b"]
        assert stream.acked == ["a"]
        await batches.aclose()
        assert stream.acked == ["a", "b"] and stream._processors == []

    asyncio.run(main())
