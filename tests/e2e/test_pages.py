"""The pages behind signed links (unsubscribe, preferences, confirmation, errors) wear the workspace's brand,
from `templates/pages/`, over a real `nudge run`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from engine.testing import email, journey_yaml, send_step
from tests.e2e.pages_kit import form_token, links_of, traits
from tests.e2e.server import NudgeServer, workspace_server

SETTINGS = """\
sender: {email: "Test Shop <hi@shop.example>", postal_address: "1 Main St, Springfield"}
topics: [newsletter, promotions]
double_opt_in: {email: true}
"""
LAYOUT = """<!DOCTYPE html><html><head><title>{% block title %}{% endblock %}</title></head>
<body data-brand="test-shop"><header>TEST SHOP</header><h1>{{ title }}</h1>{% block content %}{% endblock %}
<footer>{{ postal_address }}</footer></body></html>"""
TEMPLATES = {"confirm_subscription.email.html": email("Confirm", '<a href="{{ confirm_url }}">Confirm</a>'),
             "pages/layout.html": LAYOUT}
ANN = {"email": "ann.lee@example.com", "first_name": "<b>Ann</b>"}


def server_with(tmp_path: Path, templates: dict[str, str]) -> NudgeServer:
    promo = journey_yaml("promo", "{event: promo}", send_step("offer", "confirm_subscription"))
    srv = workspace_server(tmp_path, settings=SETTINGS, journeys={"promo": promo}, templates=templates)
    srv.env = {"NUDGE_PUBLIC_URL": srv.url}
    return srv.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = server_with(tmp_path, TEMPLATES)
    yield srv
    srv.stop()


def known(server: NudgeServer, customer_id: str, **extra: object) -> None:
    server.post({"type": "identify", "customer_id": customer_id, "traits": {**ANN, **extra}})
    server.wait_for(lambda: traits(server, customer_id).get("email") == ANN["email"], what="the profile")


def test_the_preferences_page_wears_the_workspace_brand_and_masks_the_address(server: NudgeServer) -> None:
    known(server, "c1")
    page = httpx.get(links_of(server).unsubscribe_url("c1", "email"))
    assert page.status_code == 200
    assert 'data-brand="test-shop"' in page.text and "1 Main St, Springfield" in page.text
    assert "a•••@example.com" in page.text and "ann.lee@example.com" not in page.text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in page.text and "<b>Ann</b>" not in page.text  # autoescaped
    assert 'value="newsletter"' in page.text and 'value="promotions"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the token is in the URL
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_without_workspace_pages_the_default_ones_are_used(tmp_path: Path) -> None:
    srv = server_with(tmp_path, {k: v for k, v in TEMPLATES.items() if not k.startswith("pages/")})
    try:
        known(srv, "c1")
        page = httpx.get(links_of(srv).unsubscribe_url("c1", "email"))
        assert page.status_code == 200 and "Test Shop" in page.text and "a•••@example.com" in page.text
        assert 'data-brand' not in page.text
    finally:
        srv.stop()


def test_an_unsafe_workspace_page_falls_back_to_the_default_inside_the_workspace_layout(tmp_path: Path) -> None:
    unsafe = "{% extends 'layout.html' %}{% block content %}{{ settings.__class__.__subclasses__() }}{% endblock %}"
    srv = server_with(tmp_path, {**TEMPLATES, "pages/preferences.html": unsafe})
    try:
        known(srv, "c1")
        page = httpx.get(links_of(srv).unsubscribe_url("c1", "email"))
        assert page.status_code == 200 and 'data-brand="test-shop"' in page.text  # the workspace's layout still
        assert "subclasses" not in page.text and 'value="newsletter"' in page.text  # the default body
    finally:
        srv.stop()


def test_after_unsubscribing_the_page_offers_to_resubscribe_by_a_signed_same_site_post(server: NudgeServer) -> None:
    known(server, "c1")
    url = links_of(server).unsubscribe_url("c1", "email")
    done = httpx.post(url, data={"action": "unsubscribe"})
    assert done.status_code == 200 and "a•••@example.com" in done.text and 'data-brand="test-shop"' in done.text
    server.wait_for(lambda: traits(server, "c1").get("email_subscribed") is False, what="the unsubscribe")
    token = form_token(done.text)
    stale = links_of(server).sign("form", "c1", "email", str(int(time.time()) - 8 * 86400))
    expired = httpx.post(url, data={"action": "resubscribe", "form_token": stale})
    assert expired.status_code == 422 and "open for a long time" in expired.text  # the page again, a new token
    assert httpx.post(url, data={"action": "resubscribe"}).status_code == 403  # no form token: a forged form
    assert httpx.post(url, data={"action": "resubscribe", "form_token": "x" + token}).status_code == 403
    cross = httpx.post(url, data={"action": "resubscribe", "form_token": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    again = httpx.post(url, data={"action": "resubscribe", "form_token": token}, headers={"Origin": server.url})
    assert again.status_code == 200 and "resubscribed" in again.text.lower()
    server.wait_for(lambda: traits(server, "c1").get("email_subscribed") is True, what="the resubscription")
    assert traits(server, "c1")["email_consent_source"] == "resubscribe page"


def test_a_forged_link_gets_the_branded_error_page(server: NudgeServer) -> None:
    page = httpx.get(server.url + "/u/Zm9v.YmFy")
    assert page.status_code == 403 and 'data-brand="test-shop"' in page.text and "not valid" in page.text


def test_a_confirmation_link_for_an_address_since_replaced_has_expired(server: NudgeServer) -> None:
    known(server, "c1")
    links = links_of(server)
    old = links.confirm_url("c1", "email", "old@example.com")
    assert "expired" in httpx.get(old).text.lower()
    refused = httpx.post(old)
    assert refused.status_code == 410 and 'data-brand="test-shop"' in refused.text
    current = links.confirm_url("c1", "email", ANN["email"])
    shown = httpx.get(current)
    assert "a•••@example.com" in shown.text and 'data-brand="test-shop"' in shown.text
    assert httpx.post(current).status_code == 200
    server.wait_for(lambda: traits(server, "c1").get("email_subscribed") is True, what="the consent")
    assert traits(server, "c1")["email_consent_source"] == "double opt-in link"


def test_a_customer_with_a_locale_gets_the_workspace_page_in_their_language(tmp_path: Path) -> None:
    french = ("{% extends 'layout.html' %}{% set title = 'Désinscription' %}"
              "{% block content %}<p id='done'>Vous êtes désinscrit ({{ address }}).</p>{% endblock %}")
    srv = server_with(tmp_path, {**TEMPLATES, "pages/unsubscribed.fr.html": french})
    try:
        known(srv, "c1", locale="fr-CA")
        known(srv, "c2")
        fr = httpx.post(links_of(srv).unsubscribe_url("c1", "email"), data={"action": "unsubscribe"})
        assert "Vous êtes désinscrit (a•••@example.com)." in fr.text and 'data-brand="test-shop"' in fr.text
        en = httpx.post(links_of(srv).unsubscribe_url("c2", "email"), data={"action": "unsubscribe"})
        assert "You are unsubscribed" in en.text
    finally:
        srv.stop()
