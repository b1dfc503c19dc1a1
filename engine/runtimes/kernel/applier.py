"""The one place the core's effects are taken apart: a new kind of effect fails type-checking here, not silently."""

from __future__ import annotations

from typing import Any, Iterable, Protocol, assert_never

from engine.effects import Diagnostic, Dispatch, Effect, Exposure, Message, Output, Schedule, Timer, Unschedule


class EffectSink(Protocol):
    """Where a runtime puts what the engine asked for."""

    def record(self, record: dict[str, Any]) -> None: ...
    def dispatch(self, message: Message) -> None: ...
    def schedule(self, timer: Timer) -> None: ...
    def unschedule(self, timer_id: str) -> None: ...
    def diagnose(self, diagnostic: Diagnostic) -> None: ...
    def expose(self, exposure: Exposure) -> None: ...


def apply(effects: Iterable[Effect], sink: EffectSink) -> None:
    """Every effect to the sink, in the order the engine returned them."""
    for effect in effects:
        match effect:
            case Output(record=record):
                sink.record(record)
            case Dispatch(message=message):
                sink.dispatch(message)
            case Schedule(timer=timer):
                sink.schedule(timer)
            case Unschedule(timer_id=timer_id):
                sink.unschedule(timer_id)
            case Diagnostic():
                sink.diagnose(effect)
            case Exposure():
                sink.expose(effect)
            case _:
                assert_never(effect)
