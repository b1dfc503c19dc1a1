"""Click tracking wraps only the links a template's author wrote, and leads to exactly that URL."""

from __future__ import annotations

import re

from engine.links import SignedLinks
from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET
from engine.testing import Harness, email

LINKS = SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL)
JOURNEY = "id: promo\ntrigger: {event: promo}\nsteps:\n  - id: offer\n    send: email\n    template: offer\n"
TRACKED = re.compile(r"https://nudge\.invalid/c/([A-Za-z0-9_.-]+)")


def sent_text(body: str, traits: dict[str, str], utm: bool = False, **templates: str) -> str:
    h = Harness(settings=f"tracking: {{links: true, utm: {str(utm).lower()}}}", journeys={"promo": JOURNEY},
                templates={"offer.email.html": email("Offer", body), **templates})
    h.run([{"type": "promo", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z",
            "traits": {"email": "ann@example.com", **traits}}])
    [send] = h.of("send")
    return str(send["text"])  # the plain-text part, made from the HTML after tracking


def targets(sent: str) -> list[str]:
    """Where each tracked link of a sent email redirects, in order."""
    found = []
    for token in TRACKED.findall(sent):
        fields = LINKS.open("click", token, 6)
        assert fields is not None
        found.append(fields[-1])
    return found


def test_a_url_from_customer_data_is_sent_as_it_is_never_as_a_redirect_of_ours() -> None:
    sent = sent_text('<a href="https://shop.example/sale">Sale</a> <a href="{{ profile.first_name }}">Hi</a>'
                     ' <a href="{{ profile.site }}/x">Site</a>',
                     {"first_name": "https://evil.example", "site": "https://shop.example@evil.example"})
    assert targets(sent) == ["https://shop.example/sale"]
    assert "https://evil.example" in sent and "https://shop.example@evil.example/x" in sent


def test_an_href_partly_from_data_is_wrapped_when_its_scheme_and_host_are_written() -> None:
    sent = sent_text('<a href="https://shop.example/p/{{ profile.sku }}">Item</a>', {"sku": "42"})
    assert targets(sent) == ["https://shop.example/p/42"]


def test_links_written_in_a_macro_call_or_a_layout_are_wrapped() -> None:
    layout = '{% block body %}{% endblock %} <a href="https://shop.example/help">Help</a>'
    macro = '{% macro button(label, url) %}<a href="{{ url }}">{{ label }}</a>{% endmacro %}'
    body = ('{% extends "layouts/base.html" %}{% block body %}{% from "layouts/button.html" import button %}'
            '{{ button("Go", "https://shop.example/go") }}{% endblock %}')
    sent = sent_text(body, {}, **{"layouts/base.html": layout, "layouts/button.html": macro})
    assert sorted(targets(sent)) == ["https://shop.example/go", "https://shop.example/help"]


def test_the_redirect_leads_to_exactly_the_url_the_html_meant() -> None:
    sent = sent_text('<a href="https://shop.example/p?c=red&amp;c=blue&amp;q=a%20b#top">Colours</a>', {}, utm=True)
    assert targets(sent) == ["https://shop.example/p?c=red&c=blue&q=a%20b&utm_source=nudge&utm_medium=email"
                             "&utm_campaign=promo&utm_content=offer#top"]
