"""Workspace pages (`templates/pages/`) are checked when the workspace loads, apart from message templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

def pages(problems: list) -> list[str]:
    return [str(p) for p in problems if p.file.startswith("templates/")]


LAYOUT = "<html><body>{% block content %}{% endblock %}</body></html>"
PAGE = "{% extends 'layout.html' %}{% block content %}{{ brand }} {{ address }}{% endblock %}"


def test_pages_extend_their_own_layout_and_use_page_names_without_message_checks(tmp_path: Path) -> None:
    write_workspace(tmp_path, templates={"pages/layout.html": LAYOUT, "pages/preferences.html": PAGE,
                                         "pages/footer.html": "<p>{{ postal_address }}</p>",
                                         "pages/confirm.html": "{% include 'footer.html' %}"})
    assert pages(load_workspace(tmp_path).warnings) == []


def test_a_syntax_error_in_a_page_is_a_validation_error_at_its_line(tmp_path: Path) -> None:
    write_workspace(tmp_path, templates={"pages/error.html": "<p>\n{% if %}</p>"})
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(tmp_path)
    assert pages(caught.value.problems) == [
        "templates/pages/error.html:2:1: Expected an expression, got 'end of statement block'"]


def test_a_page_file_nudge_never_shows_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    write_workspace(tmp_path, templates={"pages/prefrences.html": PAGE})
    [warning] = pages(load_workspace(tmp_path).warnings)
    assert warning.startswith("templates/pages/prefrences.html:1:1: warning: not a page Nudge shows "
                                   "(did you mean 'preferences.html'?)")


def test_a_page_in_a_language_is_a_page(tmp_path: Path) -> None:
    write_workspace(tmp_path, templates={"pages/preferences.fr.html": PAGE, "pages/saved.pt-BR.html": PAGE})
    assert pages(load_workspace(tmp_path).warnings) == []
