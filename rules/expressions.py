"""Expressions (SPEC §3): Jinja2 expressions compiled once in a sandbox and checked at load.

A missing trait is undefined: falsy, unequal to anything, and ordered against nothing,
so `profile.ltv >= 500` is simply false for a customer without `ltv`.
"""

from __future__ import annotations

import difflib
import functools
import re
from datetime import datetime
from typing import Any, Iterable, Mapping

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.filters import FILTERS
from jinja2.exceptions import SecurityError, TemplateAssertionError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from rules import jinja_internals
from rules.durations import parse_duration

NAMES = ("profile", "activity", "event", "trigger_event", "journey", "now")
FUNCTIONS = ("ago", "in_segment")
MAX_SOURCE = 2000  # characters in one expression: a longer condition belongs in segments
MAX_NODES = 500  # parts of one expression once parsed
MAX_ITEMS = 100_000  # characters or items `*` may build
MAX_BITS = 100_000  # size of a number `**` may build


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


def checked_binop(operator: str, left: Any, right: Any) -> Any:
    """`*`, `**` and `%`, refused when they would build something huge (`[1] * 10**12`,
    `'%999999999d' % 1`): the one check used when an expression is compiled and when it runs."""
    if operator == "*":
        for repeated, times in ((left, right), (right, left)):
            if isinstance(repeated, (str, list, tuple)) and isinstance(times, int) and len(repeated) * times > MAX_ITEMS:
                raise SecurityError(f"'*' would build {len(repeated) * times} items (at most {MAX_ITEMS})")
        return left * right
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right * abs(left).bit_length() > MAX_BITS:
            raise SecurityError(f"'**' would build a number of over {MAX_BITS} bits")
        return left**right
    if operator == "%":
        if isinstance(left, str):
            _check_percent_format(left, right)
        return left % right
    raise AssertionError(f"operator {operator} is not intercepted")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?")
SIZED_FILTERS = frozenset({"center", "indent", "batch", "slice", "format"})
"""Filters (and str methods, below) whose numeric arguments set the size of what they build."""
SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_size(what: str, values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ITEMS:
            raise SecurityError(f"'{what}' would build {abs(value)} items (at most {MAX_ITEMS})")


def _check_percent_format(text: str, args: Any) -> None:
    """Widths and precisions in a `%` format, and the arguments a `*` width takes."""
    for match in _PERCENT_SPEC.finditer(text):
        for part in match.groups():
            if part == "*":
                _check_size("%", args if isinstance(args, tuple) else (args,))
            elif part:
                _check_size("%", (int(part),))


def _check_brace_format(text: str, args: Iterable[Any]) -> None:
    """Widths and precisions in a `str.format` spec, and the arguments a nested `{}` width takes."""
    for spec in re.findall(r"\{[^{}]*?:((?:[^{}]|\{[^{}]*\})*)\}", text):
        _check_size("format", (int(digits) for digits in re.findall(r"\d+", spec)))
        if "{" in spec:
            _check_size("format", args)


def _sized_filter(name: str, function: Any) -> Any:
    """`function` with its size arguments checked first (`'x'|center(10**9)` builds 1 GB)."""
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1  # the context or environment, then the value

    @functools.wraps(function)  # keeps `jinja_pass_arg`, so Jinja still passes what it needs
    def checked(*args: Any, **kwargs: Any) -> Any:
        value, sizes = args[skip - 1], args[skip:]
        if name == "format" and isinstance(value, str):
            _check_percent_format(value, sizes or kwargs)
        _check_size(name, (*sizes, *kwargs.values()))
        return function(*args, **kwargs)

    return checked


_DICT_ATTRIBUTES = frozenset(dir(dict))


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with `*`, `**`, `%`, size-setting filters and str methods
    checked; intercepted operators are also never folded at compile time, so a template or
    expression cannot fill memory while it loads or runs."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters.update({name: _sized_filter(name, FILTERS[name]) for name in SIZED_FILTERS})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return checked_binop(operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`profile.email` on a plain dict: the key at once. Jinja tries the attribute first and reaches
        the key through an AttributeError, which cost a sixth of a broadcast's audience check; a name
        that is also a dict attribute (`items`, `__class__`) still goes Jinja's way: the same result."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(getattr(__obj, "__self__", None), str) and getattr(__obj, "__name__", "") in SIZED_METHODS:
            _check_size(__obj.__name__, (*args, *kwargs.values()))
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """Jinja's sandboxed `str.format`, with the widths of its format checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None

        def checked(*args: Any, **kwargs: Any) -> str:
            mapped = [item for arg in args if isinstance(arg, Mapping) for item in arg.values()]  # format_map
            _check_brace_format(value.__self__, (*args, *mapped, *kwargs.values()))
            return str(wrapped(*args, **kwargs))

        return checked


def make_environment(autoescape: bool = False, undefined: type[Undefined] = Missing) -> Sandbox:
    """The one sandbox all expressions and templates share: no mutation, no private attrs."""
    env = Sandbox(undefined=undefined, autoescape=autoescape)
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
        self._template = jinja_internals.expression_template(compiled)
        self._globals = dict(self._template.globals)
        self._context = jinja_internals.reusable_context(self._template)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        value = jinja_internals.run(self._template, self._context, {**self._globals, **context}).vars["result"]
        return None if isinstance(value, Missing) else value

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class ExpressionError(ValueError):
    """A load-time problem with an expression (syntax, unknown name or function)."""


class ExpressionCompiler:
    """Compiles and checks expressions against one workspace's segments."""

    def __init__(self, segment_names: Iterable[str]) -> None:
        self.env = make_environment()
        self.env.optimized = False  # no constant folding: `x|center(10**9)` must not run at load
        self.segment_names = set(segment_names)

    def bind_segments(self, segments: Mapping[str, Expression]) -> None:
        self.env.globals["_segments"] = dict(segments)

    def compile(self, source: str, extra_names: Iterable[str] = ()) -> Expression:
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("an expression must be non-empty text")
        if "{{" in source or "{%" in source:
            raise ExpressionError("write the expression without {{ }} or {% %}")
        if len(source) > MAX_SOURCE:
            raise ExpressionError(f"expression of {len(source)} characters (at most {MAX_SOURCE}): "
                                  "name parts of it as segments")
        try:
            tree = self.env.parse("{{ (" + source + ") }}")  # checked before compiling: compiling runs no check
            self._check(tree, set(NAMES) | set(extra_names))
            call = self.env.compile_expression(source, undefined_to_none=False)
        except (TemplateSyntaxError, TemplateAssertionError) as exc:
            raise ExpressionError(f"invalid expression '{source}': {exc.message}") from exc
        except RecursionError as exc:
            raise ExpressionError(f"invalid expression '{source[:80]}...': nested too deeply") from exc
        return Expression(source, call)

    def _check_size(self, tree: nodes.Node) -> None:
        """Few enough parts, and no literal `*` or `**` that would build something huge."""
        parts = list(tree.find_all(nodes.Node))
        if len(parts) > MAX_NODES:
            raise ExpressionError(f"expression of {len(parts)} parts (at most {MAX_NODES}): name parts of it as segments")
        if (huge := huge_literal(tree)) is not None:
            raise ExpressionError(huge[1])

    def _check(self, tree: nodes.Node, names: set[str]) -> None:
        self._check_size(tree)
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


def huge_literal(tree: nodes.Node) -> tuple[int, str] | None:
    """The line and reason where `*` or `**` of literals would build something huge, so that it
    is reported when the workspace loads rather than at each run; None when there is none."""
    folded: dict[int, Any] = {}
    for sized in tree.find_all(nodes.Filter):
        if sized.name in SIZED_FILTERS:
            try:
                _check_size(sized.name, (_fold(arg, folded) for arg in [*sized.args, *(kw.value for kw in sized.kwargs)]))
            except nodes.Impossible:
                pass
            except SecurityError as exc:
                return sized.lineno, str(exc)
    for node in tree.find_all((nodes.Mul, nodes.Pow)):
        try:
            _fold(node, folded)
        except nodes.Impossible:
            continue
        except SecurityError as exc:
            return node.lineno, str(exc)
    return None


def _fold(node: nodes.Node, folded: dict[int, Any]) -> Any:
    """The value of a part made of literals, `*` and `**` (checked as at run time), computed once
    per part; raises nodes.Impossible for a part that depends on the customer."""
    if id(node) in folded:
        return folded[id(node)]
    if isinstance(node, nodes.Const):
        value = node.value
    elif isinstance(node, (nodes.List, nodes.Tuple)):
        value = [_fold(item, folded) for item in node.items]
    elif isinstance(node, (nodes.Mul, nodes.Pow)):
        left, right = _fold(node.left, folded), _fold(node.right, folded)
        try:
            value = checked_binop(node.operator, left, right)
        except (TypeError, ValueError, OverflowError) as exc:  # an error at run time, as before
            raise nodes.Impossible() from exc
    else:
        raise nodes.Impossible()
    folded[id(node)] = value
    return value


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


did_you_mean = _hint
