"""The faust-streaming internals the worker relies on, all here: a release that changes one fails
tests/unit/test_dependency_canaries.py rather than a running worker (pyproject.toml pins faust below
its next minor version).

- `faust.streams._current_event`: the stream event a table write belongs to (it picks the
  changelog partition); set here around each buffered write.
- `Table.data`, the table's store, with `set_persisted_offset`, and `Table.changelog_topic`: a
  table's `__setitem__` would log the same record through faust's producer buffer, without
  handing back the future that says the broker has it (see `write_changelog`).
- `app.consumer._thread.seek_wait`: a seek made on the consumer's own thread
  (see `seek_on_consumer_thread`).
- `Consumer._drain_messages`, replaced on the worker's consumer by `drain_eagerly`, a copy of it
  that runs each message's callback without a task of its own (and the private attributes that
  loop reads: `_read_offset`, `_add_gap`, `_n_acked`, `_commit_every`, `_stopped`, `diag`).
- `Stream.take_events` over `Stream.__aiter__`, replaced by `take_batches`, which reads the channel's
  queue itself (the stream's private `_active_agens`, `_on_message_in`, `_on_message_out`, the queue's
  `_errors`, the consumer's `unacked` set, `Message.tracked` and `generation_id`), and the events topic's
  `decode`, replaced by `_raw_event` on the channel the conductor delivers to.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import partial
from typing import Any, AsyncGenerator, Awaitable, Callable, Coroutine, Generator

from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from faust.types.tables import TableT
from mode.utils.aiter import aiter

from engine.runtimes.kafka.producer import Acks

# topic, key, value, headers, acks, partition, watched: the producer's `send` (producer.py)
Produce = Callable[[str, bytes | None, bytes | None, Any, Acks, int | None, bool], Awaitable[None]]


async def write_changelog(produce: Produce, table: TableT[bytes, Any], source: Any, key: bytes,
                          value: bytes | None, acks: Acks) -> None:
    """Store `value` (None: delete) under `key` and log it with `produce` to the changelog partition
    of `source`'s message, counted in `acks`. The record goes straight to the worker's producer:
    `send_changelog` queues it in faust's buffer, whose one task publishes a record at a time and made
    a batch's changelog writes cost more than its processing."""
    token = _current_event.set(weakref.ref(source))
    try:
        partition = source.message.partition
        if value is None:
            if key in table.data:
                del table.data[key]
        else:
            table.data[key] = value
    finally:
        _current_event.reset(token)
    topic = table.changelog_topic.get_topic_name()
    acks.watch(topic, partial(_persisted, table, topic))
    await produce(topic, key, value, None, acks, partition, True)


def _persisted(table: TableT[bytes, Any], topic: str, partition: int, offset: int) -> None:
    """What faust's own changelog callback does: a RocksDB store notes the offset it holds data up to."""
    store: Any = table.data  # a faust Store; the table's type names only its mapping side
    store.set_persisted_offset(TP(topic, partition), offset)


async def seek_on_consumer_thread(app: Any, topic: str, partition: int, offset: int) -> None:
    """Sends the consumer back to `offset`. faust's `Consumer.seek` calls aiokafka's seek from the
    worker's event loop, while aiokafka's fetcher runs on the consumer thread's loop: wake-ups made
    from the wrong thread are lost, and a fetcher left waiting stopped delivering inputs and
    changelog records (a recovery that never ended). `seek_wait` runs the seek on that thread."""
    await app.consumer._thread.seek_wait({TP(topic, partition): offset})


def eager_intake(app: Any) -> None:
    """The worker's consumer hands messages to faust's streams through `drain_eagerly`."""
    consumer = app.consumer
    consumer._drain_messages = partial(drain_eagerly, consumer)


async def drain_eagerly(consumer: Any, fetcher: Any) -> None:
    """faust's `Consumer._drain_messages` (0.15.3) with one change: each message's callback (the
    conductor's, which puts the message on its streams' queues) runs on this task until it first
    waits, instead of through `wait_first(callback(message), suspend_flow.wait())`, which puts every
    message through four tasks and an `asyncio.wait`: a tenth of a busy worker's main thread. A
    callback that does wait (flow control while partitions move, a full queue) goes on as a task,
    raced against `suspend_flow` as faust does: offsets, gaps, commits and flow control unchanged."""
    callback = consumer.callback
    getmany = consumer.getmany
    consumer_should_stop = consumer._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = consumer._read_offset.__getitem__
    set_read_offset = consumer._read_offset.__setitem__
    set_flag, unset_flag = consumer.diag.set_flag, consumer.diag.unset_flag
    commit_every = consumer._commit_every
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    yield_every, since_yield = 100, 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            records = getmany(timeout=1.0)
            await consumer.sleep(0)  # getmany can return at once, again and again
            if not consumer.should_stop:
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > yield_every:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    read = get_read_offset(tp)
                    if read is None or offset >= read:
                        if offset - (read or 0) > 1 and read and acks_enabled_for(message.topic):
                            await consumer._add_gap(tp, read + 1, offset)  # a gap in the offsets
                        if commit_every is not None and consumer._n_acked >= commit_every:
                            consumer._n_acked = 0
                            await consumer.commit()
                        rest = started(callback(message))
                        if rest is not None:
                            await consumer.wait_first(rest, consumer.suspend_flow.wait())
                        set_read_offset(tp, offset)
            unset_flag(CONSUMER_FETCHING)
    except (*consumer.consumer_stopped_errors, asyncio.CancelledError):
        if consumer.transport.app.should_stop:  # stopping anyway
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


def started(coroutine: Coroutine[Any, Any, Any]) -> Awaitable[Any] | None:
    """Runs `coroutine` until it first waits: None if it finished (its exception raised here), else
    what awaits the rest of it (in whichever task awaits that)."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    return _Rest(coroutine, waiting)


class _Rest:
    """The rest of a coroutine that waits on `waiting`: awaited, it goes on as if it had been
    awaited from its start (results, exceptions and cancellation pass through)."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coroutine, self.waiting = coroutine, waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting = self.coroutine, self.waiting
        while True:
            try:
                sent = yield waiting  # what the coroutine waits on, to the task running this
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # thrown into the task (a cancellation): the coroutine's
                try:
                    waiting = coroutine.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration as done:
                    return done.value


def take_batches(stream: Any, max_: int, within: Callable[[], float]) -> AsyncGenerator[list[Any], None]:
    """The stream's events a batch at a time, read off its channel's queue (`_take`)."""
    channel: Any = aiter(stream.channel)  # the agent's stream iterates a clone of the topic: that clone itself
    channel.decode = partial(_raw_event, stream.app.create_event)  # what the conductor delivers with
    batches = _take(stream, channel.queue, max_, within)
    stream._active_agens.add(batches)  # closed when the stream stops, as faust's own are
    return batches


async def _raw_event(create_event: Callable[..., Any], message: Any, *, propagate: bool = False) -> Any:
    """A topic of raw keys and values (bytes in, bytes out) decoded without faust's schema machinery."""
    return create_event(message.key, message.value, message.headers, message)


async def _take(stream: Any, queue: Any, max_: int, within: Callable[[], float]) -> AsyncGenerator[list[Any], None]:
    """faust's `Stream.take_events` over `Stream.__aiter__` (0.15.3), for the one use here: the events the
    conductor puts on the channel's queue are taken a batch at a time, up to `max_` or until `within()`
    seconds have passed since the batch began, and acknowledged only once the batch is handled (the
    next batch fills meanwhile). From the stream's loop it keeps what decides what is committed: an
    event of an earlier consumer generation, or one taken while flow control is suspended (partitions
    moving), is skipped; an event taken is tracked as unacknowledged (a rebalance waits for it) and
    acknowledged after its batch. A stop (faust's actor throws `StopAsyncIteration` into the queue) ends
    the batches, as it ends faust's loop. It leaves out what cost a busy worker a tenth of its main
    thread: a task switch, the stream's sensors, the current-event context and a processor per event."""
    app, consumer = stream.app, stream.app.consumer
    loop = asyncio.get_running_loop()
    errors, empty, get_nowait = queue._errors, queue.empty, queue.get_nowait
    flow_active = app.flow_control.is_active
    acking_topics = app.topics.acking_topics
    track = consumer.unacked.add
    on_message_in, on_message_out = stream._on_message_in, stream._on_message_out

    def ack(event: Any) -> None:
        if event.ack():  # the last of the message's references: its offset may be committed
            message = event.message
            on_message_out(message.tp, message.offset, message)

    while not stream.should_stop:
        taken: list[Any] = []
        until = loop.time() + within()
        while len(taken) < max_:
            try:
                if errors:
                    raise errors.popleft()
                if empty():
                    left = until - loop.time()
                    if left <= 0:
                        break
                    try:
                        event = await asyncio.wait_for(queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                else:
                    event = get_nowait()
            except StopAsyncIteration:  # raised in an async generator it would become a RuntimeError (a crash)
                return
            message = event.message
            if not flow_active() or message.generation_id != app.consumer_generation_id:
                # fetched before the partitions moved: taken again from the committed offset. Not acknowledged,
                # as faust's Cython loop (the one that ran) does not: an acknowledged offset of an earlier
                # generation would let a commit pass an input of the new one still in hand
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                track(message)
                on_message_in(message.tp, message.offset, message)
            taken.append(event)
        if taken:
            try:
                yield taken
            finally:
                for event in taken:
                    ack(event)
