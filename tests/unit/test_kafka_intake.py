"""faust's intake without a task per message (faust_internals.drain_eagerly): a message's callback
runs on the drain's own task until it first waits, and one that waits goes on as if awaited from
its start. The drain itself runs on a real broker in tests/kafka."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("faust")

from engine.runtimes.kafka.faust_internals import started  # noqa: E402


def counting_tasks(loop: asyncio.AbstractEventLoop) -> list[Any]:
    made: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    return made


def test_a_callback_that_does_not_wait_is_done_on_the_callers_task_without_a_task_of_its_own() -> None:
    done: list[int] = []

    async def callback(n: int) -> None:
        done.append(n)

    async def main() -> None:
        made = counting_tasks(asyncio.get_running_loop())
        for n in range(3):
            assert started(callback(n)) is None
        assert done == [0, 1, 2] and made == []

    asyncio.run(main())


def test_a_callback_that_fails_at_once_raises_where_it_is_started() -> None:
    async def callback() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        started(callback())


def test_a_callback_that_waits_goes_on_in_the_task_that_awaits_the_rest_with_its_result_or_error() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        steps: list[str] = []

        async def callback(fail: bool) -> str:
            steps.append("before")
            await gate.wait()
            await asyncio.sleep(0)  # a bare yield too
            steps.append("after")
            if fail:
                raise KeyError("late")
            return "put"

        rest = started(callback(False))
        failing = started(callback(True))
        assert rest is not None and failing is not None and steps == ["before", "before"]
        task, failing_task = asyncio.ensure_future(rest), asyncio.ensure_future(failing)
        await asyncio.sleep(0.01)
        assert not task.done()  # still waiting for the gate
        gate.set()
        assert await task == "put"
        with pytest.raises(KeyError):
            await failing_task
        assert steps == ["before", "before", "after", "after"]

    asyncio.run(main())


def test_a_waiting_callback_raced_and_cancelled_as_faust_does_is_cancelled_inside() -> None:
    async def main() -> None:
        cleaned: list[str] = []

        async def callback() -> None:
            try:
                await asyncio.Event().wait()  # flow control that does not resume
            finally:
                cleaned.append("cancelled inside")

        rest = started(callback())
        assert rest is not None
        suspended = asyncio.Event()
        suspended.set()  # the flow suspended: faust's wait_first returns and cancels the callback's task
        task, flow = asyncio.ensure_future(rest), asyncio.ensure_future(suspended.wait())
        done, pending = await asyncio.wait([task, flow], return_when=asyncio.FIRST_COMPLETED)
        assert flow in done and task in pending
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == ["cancelled inside"]

    asyncio.run(main())
