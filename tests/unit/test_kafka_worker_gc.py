"""A started worker collects garbage less often and no longer walks what start-up made."""

from __future__ import annotations

import gc
from typing import Iterator

import pytest

pytest.importorskip("faust")

from engine.runtimes.kafka.worker import COLLECT_EVERY, collect_less  # noqa: E402


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_started_worker_freezes_start_up_objects_and_collects_young_ones_less_often(collector: None) -> None:
    started = [object() for _ in range(10)]  # lives as long as the worker
    collect_less()
    assert gc.get_freeze_count() >= len(started)
    assert gc.get_threshold()[0] == COLLECT_EVERY > 700
