"""A page says which language it is in (`<html lang>`): the locale of the page file chosen for the customer, else
the language of the plain pages, so screen readers and translators read a French page as French."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connectors.api.pages.render import Pages

ROOT = Path(__file__).resolve().parents[2]
FRENCH = '{% extends "layout.html" %}{% block content %}<h1>Vous êtes désinscrit</h1>{% endblock %}'
BRAZILIAN = '{% extends "layout.html" %}{% block content %}<h1>Inscrição cancelada</h1>{% endblock %}'


def workspace(tmp_path: Path, own_layout: bool) -> Path:
    pages = tmp_path / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "unsubscribed.fr.html").write_text(FRENCH, encoding="utf-8")
    (pages / "unsubscribed.pt-BR.html").write_text(BRAZILIAN, encoding="utf-8")
    if own_layout:  # the demo's, in the look of its emails
        shutil.copy(ROOT / "templates" / "pages" / "layout.html", pages / "layout.html")
    return tmp_path


@pytest.mark.parametrize("own_layout", [False, True], ids=["default layout", "demo layout"])
@pytest.mark.parametrize(("locale", "lang"), [("fr", "fr"), ("fr-CA", "fr"), ("pt-BR", "pt-BR"), ("de", "en"),
                                              (None, "en")])
def test_the_page_is_marked_in_the_language_of_the_file_chosen(tmp_path: Path, own_layout: bool,
                                                               locale: str | None, lang: str) -> None:
    html = Pages(workspace(tmp_path, own_layout)).render(
        "unsubscribed.html", {"brand": "Juniper & Pine", "title": "T", "channel_name": "emails", "locale": locale})
    assert f'<html lang="{lang}">' in html


def test_a_page_without_language_variants_is_in_the_plain_pages_language(tmp_path: Path) -> None:
    html = Pages(workspace(tmp_path, True)).render("saved.html", {"brand": "Juniper & Pine", "locale": "fr"})
    assert '<html lang="en">' in html
