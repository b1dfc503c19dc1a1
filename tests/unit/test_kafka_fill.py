"""How long a batch waits to fill (fill.FillWindow): the short window while inputs come one by one, so
a lone event goes out as fast as before; a longer one only while a backlog fills batches."""

from __future__ import annotations

import inspect

import pytest

from engine.runtimes.kafka.fill import FillWindow


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
    pytest.importorskip("faust")
    from faust.streams import Stream

    take = inspect.getsource(Stream.take_events)
    for line in ("self.enable_acks = False", "self.add_processor(add_to_buffer)",
                 "self._enable_passive(cast(ChannelT, channel_it))", "event = self.current_event",
                 "await self.ack(event)", "self._processors.remove(add_to_buffer)", "await self.wait_for_stopped("):
        assert line in take, line  # faust's loop changed: compare it with faust_internals.take_batches
    assert "cast(\"Stream\", self)._active_agens.add(agen)" in inspect.getsource(inspect.getmodule(Stream))  # type: ignore[arg-type]
