"""The Jinja2 internals the fast paths use, all here: a release that changes one fails
tests/unit/test_dependency_canaries.py rather than every render (pyproject.toml pins Jinja2 below
its next minor version).

`Template.render` and `TemplateExpression.__call__` build a fresh Context (the globals, a
ChainMap, copied) on every call, which costs more than a short template or an expression
itself. These use what they use inside: `TemplateExpression._template`, `Template.new_context`,
`Template.root_render_func`, `Environment.concat` and `Environment.handle_exception`.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Template
from jinja2.runtime import Context


def expression_template(compiled: Any) -> Template:
    """The template an `Environment.compile_expression` result evaluates."""
    template: Template = compiled._template
    return template


def reusable_context(template: Template) -> Context:
    """A context to run `template` in again and again (`run`), its names set anew each time."""
    return template.new_context({}, shared=True)


def run(template: Template, context: Context, names: dict[str, Any]) -> Context:
    """Runs `template` in `context` with `names` as its only names; returns the context, its `vars` filled."""
    context.parent = names
    context.vars = {}
    for _ in template.root_render_func(context):
        pass
    return context


def render(template: Template, names: dict[str, Any]) -> str:
    """What `template.render(names)` returns (or raises, with Jinja's template traceback), without copying globals."""
    context = template.new_context(names, shared=True)
    try:
        return template.environment.concat(template.root_render_func(context))
    except Exception:
        template.environment.handle_exception()
