"""Canaries for the private parts of Jinja2 and faust-streaming that rules/jinja_internals.py and
engine/runtimes/kafka/faust_internals.py use: a release that moves one fails here, by name."""

from __future__ import annotations

import inspect
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import StrictUndefined, Template, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rules import jinja_internals


def test_jinja_expressions_run_on_a_reused_context_as_jinja_would_evaluate_them() -> None:
    env = ImmutableSandboxedEnvironment()
    compiled = env.compile_expression("x + y", undefined_to_none=False)
    template = jinja_internals.expression_template(compiled)
    assert isinstance(template, Template)
    context = jinja_internals.reusable_context(template)
    for x in (1, 2):  # the same context, names replaced each time
        assert jinja_internals.run(template, context, {"x": x, "y": 10}).vars["result"] == compiled(x=x, y=10)


def test_jinja_templates_render_and_fail_as_template_render_does() -> None:
    env = ImmutableSandboxedEnvironment()
    template = env.from_string("Hi {{ name }}{% for i in items %}, {{ i }}{% endfor %}")
    names = {"name": "Ann", "items": [1, 2]}
    assert jinja_internals.render(template, dict(names)) == template.render(names) == "Hi Ann, 1, 2"
    strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string("{{ a.b }}")
    with pytest.raises(UndefinedError):
        jinja_internals.render(strict, {})


def test_faust_keeps_the_current_event_the_changelog_and_the_store_offsets_where_the_worker_uses_them() -> None:
    faust_streams = pytest.importorskip("faust.streams")
    from faust.tables.base import Collection

    from engine.runtimes.kafka import faust_internals

    class Input:  # a stream event, as faust keeps it: by weak reference
        message = SimpleNamespace(partition=3)

    source = Input()
    token = faust_streams._current_event.set(weakref.ref(source))
    try:
        assert faust_streams.current_event() is source  # the stores find a write's partition this way
    finally:
        faust_streams._current_event.reset(token)
    from faust.stores.base import Store

    assert isinstance(inspect.getattr_static(Collection, "data"), property)
    assert isinstance(inspect.getattr_static(Collection, "changelog_topic"), property)
    assert list(inspect.signature(Store.set_persisted_offset).parameters) == ["self", "tp", "offset"]
    assert callable(faust_internals.write_changelog)


def test_faust_seeks_on_the_consumer_thread_where_the_worker_sends_its_consumer_back() -> None:
    pytest.importorskip("faust")
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
    from faust.types.app import AppT

    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread.seek_wait)
    assert list(inspect.signature(AIOKafkaConsumerThread.seek_wait).parameters) == ["self", "partitions"]
    assert "AIOKafkaConsumerThread" in str(inspect.get_annotations(Consumer)["_thread"])
    assert {"rebalancing", "in_recovery"} <= set(inspect.get_annotations(AppT))  # the tick waits them out


def test_faust_drains_messages_as_the_workers_eager_copy_of_that_loop_expects() -> None:
    pytest.importorskip("faust")
    from faust.transport.consumer import CONSUMER_FETCHING, Consumer

    drain = inspect.getsource(Consumer._drain_messages)
    for line in ("getmany(timeout=1.0)", "self._add_gap(tp, r_offset + 1, offset)", "self._n_acked >= commit_every",
                 "callback(message), self.suspend_flow.wait()", "set_read_offset(tp, offset)",
                 "cast(Service, fetcher)._stopped.is_set", "self.diag.set_flag"):
        assert line in drain, line  # faust's loop changed: compare it with faust_internals.drain_eagerly
    state = inspect.getsource(Consumer)  # where the loop's private state is set
    assert all(f"self.{name} =" in state for name in ("_read_offset", "_commit_every", "_n_acked"))
    assert isinstance(CONSUMER_FETCHING, str)


def test_the_worker_consumer_drains_through_the_eager_copy(tmp_path: Path) -> None:
    pytest.importorskip("faust")
    from engine.runtimes.kafka import faust_internals
    from engine.runtimes.kafka.worker import create_worker
    from engine.runtimes.settings import KafkaSettings, Secret
    from engine.testing import write_workspace

    ws = write_workspace(tmp_path / "ws", journeys={})
    app = create_worker(ws, KafkaSettings(link_secret=Secret("s"), data_dir=str(tmp_path / "data")))
    assert app.consumer._drain_messages.func is faust_internals.drain_eagerly
