"""Expressions and templates that would fill memory or the stack while the workspace loads."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from engine.testing import email, write_workspace
from rules.expressions import ExpressionCompiler, ExpressionError
from rules.problems import WorkspaceError
from rules.templates import TemplateSet
from rules.workspace import load_workspace

HELLO = "id: hello\ntrigger: {event: signed_up, where: WHERE}\nsteps:\n  - send: email\n    template: hi\n"


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def test_a_huge_literal_repetition_is_a_validation_error_at_the_expression(tmp_path: Path) -> None:
    journey = HELLO.replace("WHERE", '"activity.x.count in [1]*10**12"')
    write_workspace(tmp_path, journeys={"hello": journey}, templates={"hi.email.html": email("Hi")})
    assert problems(tmp_path) == ["journeys/hello.yaml:2:36: '*' would build 1000000000000 items (at most 100000)"]


@pytest.mark.parametrize(("source", "reason"), [
    ("profile.n == 2 ** 1000000000000", "'**' would build a number of over 100000 bits"),
    ("profile.n == " + " + ".join(["1"] * 300), "expression of 604 parts (at most 500)"),
    ("profile.name == '" + "x" * 3000 + "'", "expression of 3018 characters (at most 2000)"),
    ("(" * 200 + "1" + ")" * 200, "nested too deeply"),
])
def test_expressions_too_big_to_compile_are_refused(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(reason)):
        ExpressionCompiler([]).compile(source)


def test_a_repetition_built_from_customer_data_is_refused_when_it_runs() -> None:
    expression = ExpressionCompiler([]).compile("[1] * profile.n")
    assert expression.evaluate({"profile": {"n": 3}}) == [1, 1, 1]
    with pytest.raises(SecurityError, match="would build 1000000000000 items"):
        expression.evaluate({"profile": {"n": 10**12}})


def test_compiling_folds_no_constants_so_a_filter_cannot_fill_memory_at_load() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match="'center' would build 200000000 items"):
            ExpressionCompiler([]).compile("profile.name == 'a'|center(200000000)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # folded, the filter would build a 200 MB string


def test_a_template_with_a_huge_literal_repetition_is_refused_at_its_line() -> None:
    templates = TemplateSet({"hi.email.html": email("Hi", "<p>x</p>\n{{ 'ab' * 10**12 }}"),
                             "t.sms.txt": "{{ '-' * 20 }} ok"})
    assert [str(p) for p in templates.problems] == [
        "templates/hi.email.html:5:1: '*' would build 2000000000000 items (at most 100000)"]


@pytest.mark.parametrize("source", [
    "'a'|center(profile.n)", "'a'|indent(profile.n)", "[1]|batch(profile.n, 0)|list", "[1]|slice(profile.n)|list",
    "'%*d'|format(profile.n, 1)", "'%*d' % (profile.n, 1)", "'x'.ljust(profile.n)", "'x'.zfill(profile.n)",
    "'\\t'.expandtabs(profile.n)", "'{:>{}}'.format('a', profile.n)", "'{x:>{w}}'.format_map({'x': 1, 'w': profile.n})",
])
def test_a_width_taken_from_customer_data_cannot_build_a_huge_string(source: str) -> None:
    expression = ExpressionCompiler([]).compile(source)
    assert expression.evaluate({"profile": {"n": 3}})  # a sensible width still works
    tracemalloc.start()
    try:
        with pytest.raises(SecurityError, match="would build 1000000000 items"):
            expression.evaluate({"profile": {"n": 10**9}})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


@pytest.mark.parametrize(("source", "reason"), [
    ("'a'|center(10**9) == profile.name", "'center' would build 1000000000 items (at most 100000)"),
    ("'%999999999d' % profile.n", "'%' would build 999999999 items (at most 100000)"),
    ("'{:999999999}'.format(profile.n)", "'format' would build 999999999 items (at most 100000)"),
])
def test_a_literal_huge_width_is_refused(source: str, reason: str) -> None:
    try:
        expression = ExpressionCompiler([]).compile(source)
    except ExpressionError as exc:  # found when the workspace loads
        assert str(exc) == reason
        return
    with pytest.raises(SecurityError, match=re.escape(reason)):  # or, at the latest, before it allocates
        expression.evaluate({"profile": {"n": 1, "name": "a"}})


def test_a_template_with_a_huge_literal_width_is_refused_at_its_line() -> None:
    templates = TemplateSet({"hi.email.html": email("Hi", "<p>x</p>\n{{ profile.first_name|center(10**9) }}")})
    assert [str(p) for p in templates.problems] == [
        "templates/hi.email.html:5:1: 'center' would build 1000000000 items (at most 100000)"]
