"""The faster rendering paths give exactly what the plain ones give (no timing here: see bench/).

Each rewritten step of the plain-text derivation is checked against its straightforward
regular-expression form, and a prepared template against `Template.render`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import plaintext
from rules.expressions import make_environment
from rules.templates import Prepared, TemplateSet

# Pieces of email HTML, with the edge cases of each step: other white space, edge marks,
# case variants that re.I matches ('ſ' is an 's'), unclosed and nested hidden elements.
PIECES = ["<p>", "</p>", "<br>", "<li>", "</td>", "<div>", "</div>", "<tr>", "<table>", "<h1>",
          '<span style="display:none">', "<span style='DISPLAY : NONE'>", "</span>", '<div style="diſplay:none">',
          '<a style="display:inline-block;text-decoration:none">', '<img alt="x" style="display:none">',
          '<a href="https://shop.example/?a=1&amp;b=2">', "</a>", "<head>", "</head>", "<!--", "-->",
          " ", "  ", "\n", "\t", "\r", "\f", "\v", "\x00", "\x01", "\xa0", "&nbsp;", "&#10;", "<", ">", '"', "'",
          "Hi", "play", "PLAY:NONE", "none", "İ", "\u2028"]
html_like = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)

def plain_drop_hidden(source: str) -> str:
    """`_drop_hidden` without its shortcut: search until no hidden element is left."""
    kept: list[str] = []
    position = 0
    while (opening := plaintext._HIDDEN.search(source, position)) is not None:
        kept.append(source[position:opening.start()])
        position = plaintext._element_end(source, opening)
    kept.append(source[position:])
    return "".join(kept)


@settings(max_examples=500)
@given(html_like)
def test_dropping_hidden_elements_with_the_shortcut_drops_the_same(source: str) -> None:
    assert plaintext._drop_hidden(source) == plain_drop_hidden(source)


@settings(max_examples=500)
@given(html_like)
def test_collapsing_white_space_matches_one_pattern_over_it(source: str) -> None:
    assert plaintext._collapse_space(source) == re.sub(r"[ \t\r\n\f]+", " ", source)


@settings(max_examples=500)
@given(html_like)
def test_edge_marks_become_the_same_line_breaks(source: str) -> None:
    expected = re.sub(r"[ \n]*[\x00\x01][\x00\x01 \n]*", lambda m: "\n\n" if "\x01" in m[0] else "\n", source)
    assert plaintext._break_edges(source) == expected


@settings(max_examples=200)
@given(st.text(alphabet="\n a", max_size=30))
def test_blank_line_runs_match_the_counted_pattern(source: str) -> None:
    assert plaintext._BLANKS.sub("\n\n", source) == re.sub(r"\n{3,}", "\n\n", source)


CTX: dict[str, Any] = {"profile": {"first_name": "Ann"}, "event": {"properties": {"total": 12.5}}}


@pytest.mark.parametrize("source", [
    "", "Thank you! We'll email you when it ships.", "{% raw %}{{ kept }}{% endraw %}", "Hi {# note #}there\n",
    "Hi {{ profile.first_name }}", "{{ profile.missing | default('friend') }}", "{{ range(3) | list }}",
    "{% if event.properties.total is number %}${{ '%.2f' | format(event.properties.total) }}{% endif %}",
])
def test_a_prepared_template_renders_what_jinja_renders(source: str) -> None:
    template = make_environment().from_string(source)
    prepared = Prepared(template, source)
    assert prepared.render(CTX) == template.render(CTX)
    assert prepared.render({}) == template.render({})


def test_a_prepared_template_raises_what_jinja_raises() -> None:
    source = "Hi {{ profile.first_name }}{{ 1 / 0 }}"
    template = make_environment().from_string(source)
    with pytest.raises(ZeroDivisionError) as expected:
        template.render(CTX)
    with pytest.raises(ZeroDivisionError) as got:
        Prepared(template, source).render(CTX)
    assert str(got.value) == str(expected.value)


def test_rendering_the_same_email_twice_gives_the_same_message() -> None:
    files = {"layouts/base.email.html": "<html><body>{% block content %}{% endblock %}</body></html>",
             "t.email.html": '---\nsubject: "Hi {{ profile.first_name }}"\npreheader: "Fixed"\n---\n'
                             '{% extends "layouts/base.email.html" %}{% block content %}<p>{{ profile.first_name }}'
                             "</p>{% endblock %}"}
    templates = TemplateSet(files)
    first = templates.render("t", "email", None, CTX)
    assert first == templates.render("t", "email", None, CTX)
    assert (first.subject, first.preheader, first.text) == ("Hi Ann", "Fixed", "Ann")
    other = templates.render("t", "email", None, {"profile": {"first_name": "Bo"}})
    assert (other.subject, other.text) == ("Hi Bo", "Bo")
