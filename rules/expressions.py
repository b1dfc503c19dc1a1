"""Expressions (SPEC §3): Jinja2 expressions compiled once in a sandbox and checked at load.

A missing trait is undefined: falsy, unequal to anything, and ordered against nothing,
so `profile.ltv >= 500` is simply false for a customer without `ltv`.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any, Iterable, Mapping

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateAssertionError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from rules.durations import parse_duration

NAMES = ("profile", "activity", "event", "trigger_event", "journey", "now")
FUNCTIONS = ("ago", "in_segment")


class Missing(ChainableUndefined):
    """Undefined that chains (`activity.purchase.last_at`) and compares as false."""

    __slots__ = ()

    def _false(self, other: Any) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]

    def __eq__(self, other: Any) -> bool:
        return False

    def __ne__(self, other: Any) -> bool:
        return True

    __hash__ = ChainableUndefined.__hash__


@pass_context
def _ago(context: Context, duration: str) -> datetime:
    now: datetime = context["now"]
    return now - parse_duration(duration)


@pass_context
def _in_segment(context: Context, name: str) -> bool:
    segments: Mapping[str, Expression] = context.environment.globals["_segments"]  # type: ignore[assignment]
    segment = segments.get(name)
    if segment is None:
        raise KeyError(f"unknown segment '{name}'")
    return bool(segment.evaluate(context.get_all()))


def make_environment(autoescape: bool = False) -> ImmutableSandboxedEnvironment:
    """The one sandbox all expressions and templates share: no mutation, no private attrs."""
    env = ImmutableSandboxedEnvironment(undefined=Missing, autoescape=autoescape)
    env.globals.update(ago=_ago, in_segment=_in_segment, _segments={})
    return env


class Expression:
    """A compiled expression; `evaluate` raises on a run-time error, callers decide what it means."""

    __slots__ = ("source", "_template", "_globals", "_context")

    def __init__(self, source: str, compiled: Any) -> None:
        self.source = source
        # Jinja's TemplateExpression builds a fresh Context (globals copied, blocks, eval
        # context) on every call, which costs more than the expression itself. One Context
        # per expression is reused with new names each time: evaluation is not reentrant
        # for the same expression, and the engine evaluates on one thread at a time.
        self._template = compiled._template
        self._globals = dict(self._template.globals)
        self._context = self._template.new_context({}, shared=True)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        ctx = self._context
        ctx.parent = {**self._globals, **context}
        ctx.vars = {}
        for _ in self._template.root_render_func(ctx):
            pass
        value = ctx.vars["result"]
        return None if isinstance(value, Missing) else value

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class ExpressionError(ValueError):
    """A load-time problem with an expression (syntax, unknown name or function)."""


class ExpressionCompiler:
    """Compiles and checks expressions against one workspace's segments."""

    def __init__(self, segment_names: Iterable[str]) -> None:
        self.env = make_environment()
        self.segment_names = set(segment_names)

    def bind_segments(self, segments: Mapping[str, Expression]) -> None:
        self.env.globals["_segments"] = dict(segments)

    def compile(self, source: str, extra_names: Iterable[str] = ()) -> Expression:
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("an expression must be non-empty text")
        if "{{" in source or "{%" in source:
            raise ExpressionError("write the expression without {{ }} or {% %}")
        try:
            call = self.env.compile_expression(source, undefined_to_none=False)
            tree = self.env.parse("{{ (" + source + ") }}")
            self._check(tree, set(NAMES) | set(extra_names))
        except TemplateSyntaxError as exc:
            raise ExpressionError(f"invalid expression '{source}': {exc.message}") from exc
        except TemplateAssertionError as exc:
            raise ExpressionError(f"invalid expression '{source}': {exc.message}") from exc
        return Expression(source, call)

    def _check(self, tree: nodes.Node, names: set[str]) -> None:
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name):
                if call.node.name not in FUNCTIONS:
                    raise ExpressionError(
                        f"unknown function '{call.node.name}'{_hint(call.node.name, FUNCTIONS)}"
                        f"; available: {', '.join(FUNCTIONS)}"
                    )
                if call.node.name == "in_segment":
                    self._check_segment(call)
        for name in tree.find_all(nodes.Name):
            if name.ctx == "load" and name.name not in names and name.name not in FUNCTIONS:
                raise ExpressionError(
                    f"unknown name '{name.name}'{_hint(name.name, names)}; available: {', '.join(sorted(names))}"
                )

    def _check_segment(self, call: nodes.Call) -> None:
        if len(call.args) != 1 or not isinstance(call.args[0], nodes.Const):
            raise ExpressionError("in_segment takes one segment name in quotes, e.g. in_segment('vip')")
        name = call.args[0].value
        if name not in self.segment_names:
            raise ExpressionError(f"unknown segment '{name}'{_hint(str(name), self.segment_names)}")


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


did_you_mean = _hint
