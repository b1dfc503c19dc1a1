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
- `Stream.take_events`, copied as `take_batches` with a window read again before each batch (and the
  stream's private `_enable_passive`, `_processors`, `_active_agens` it uses).
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
    """faust's `Stream.take_events` (0.15.3) with one change: how long a batch waits to fill is
    `within()`, asked before each batch, rather than one number for the stream's life (fill.py)."""
    batches = _take(stream, max_, within)
    stream._active_agens.add(batches)  # closed when the stream stops, as faust's own are
    return batches


async def _take(stream: Any, max_: int, within: Callable[[], float]) -> AsyncGenerator[list[Any], None]:
    buffer: list[Any] = []
    buffer_full, buffer_consumed = asyncio.Event(), asyncio.Event()
    stream_enable_acks: bool = stream.enable_acks
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        try:
            event = stream.current_event
            if event is None:
                raise RuntimeError("Take buffer found current_event is None")
            buffer.append(event)
            if len(buffer) >= max_:
                buffer_full.set()
                buffer_consumed.clear()
                await stream.wait(buffer_consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # acknowledged here, once a batch is handled
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(buffer_full, timeout=within())
            if buffer:
                # the batch is taken out of the buffer, which fills again while it is handled
                taken = list(buffer)
                buffer.clear()
                buffer_full.clear()
                buffer_consumed.set()
                try:
                    yield taken
                finally:
                    for event in taken:
                        await stream.ack(event)
    finally:
        stream.enable_acks = stream_enable_acks
        stream._processors.remove(add_to_buffer)
