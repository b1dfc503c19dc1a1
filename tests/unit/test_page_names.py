"""A page that prints a name pages never see (a typo) prints nothing to the customer: validate warns."""

from __future__ import annotations

from pathlib import Path

from connectors.api.pages import view
from engine.testing import write_workspace
from rules.pages import PAGE_NAMES
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
SAVED = ('{% extends "layout.html" %}{% set title = "Saved" %}\n'
         '{% block content %}{% for d in days %}{{ d.label }}{% endfor %}\n<p>Thanks {{ frist_name }}.</p>{% endblock %}')


def page_warnings(root: Path) -> list[str]:
    return [str(w) for w in load_workspace(root).warnings if w.file.startswith("templates/pages/")]


def test_a_misspelt_name_in_a_page_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    write_workspace(tmp_path, templates={"pages/saved.html": SAVED})
    assert page_warnings(tmp_path) == [
        "templates/pages/saved.html:3:1: warning: 'frist_name' is not a name pages see (did you mean "
        "'first_name'?), so it prints nothing; pages see " + ", ".join(PAGE_NAMES)]


def test_the_names_the_pages_are_given_are_the_names_validate_knows() -> None:
    workspace = load_workspace(ROOT).workspace
    given = {*view.preferences(workspace, {}, "email"), "title", "message", "preferences_url", "pending",
             "reminders", "form_token", "lang"}  # lang: the renderer's, the language of the page file shown
    assert given == set(PAGE_NAMES)


def test_the_demo_pages_and_the_defaults_read_only_page_names(tmp_path: Path) -> None:
    defaults = Path(view.__file__).parent / "templates"
    write_workspace(tmp_path, templates={f"pages/{p.name}": p.read_text() for p in defaults.glob("*.html")})
    assert page_warnings(tmp_path) == [] and page_warnings(ROOT) == []
