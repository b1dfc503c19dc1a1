"""The demo workspace's pages wear its email brand; a workspace without pages gets the shipped defaults."""

from __future__ import annotations

from pathlib import Path

from connectors.api.pages import view
from connectors.api.pages.render import Pages
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
ANN = {"email": "ann@example.com", "first_name": "Ann", "unsubscribed_topics": []}


def test_the_demo_preferences_page_has_the_masthead_and_footer_of_its_emails() -> None:
    workspace = load_workspace(ROOT).workspace
    html = Pages(ROOT).render("preferences.html", {**view.preferences(workspace, ANN, "email"), "form_token": "t"})
    assert '<div class="masthead">Juniper &amp; Pine</div>' in html
    assert "40 Orchard Lane, Portland" in html and "a•••@example.com" in html and "ann@example.com" not in html


def test_every_page_of_a_workspace_without_pages_renders_from_the_defaults(tmp_path: Path) -> None:
    workspace = load_workspace(ROOT).workspace
    pages = Pages(tmp_path)
    for name in ("preferences.html", "unsubscribed.html", "resubscribed.html", "saved.html", "confirm.html",
                 "confirmed.html", "error.html"):
        html = pages.render(name, {**view.preferences(workspace, ANN, "email"), "title": "T", "message": "M"})
        assert '<p class="brand">Juniper &amp; Pine</p>' in html and "masthead" not in html, name
