"""Tracked links of a real `nudge run`: only the author's links redirect, to exactly the URL meant."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from engine.testing import email, journey_yaml, send_step
from tests.e2e.server import workspace_server

PROMO = journey_yaml("promo", "{event: promo}", send_step("offer", "offer"))
OFFER = email("Sale", '<a href="https://shop.example/p?c=red&amp;c=blue&amp;q=a%20b">Colours</a>'
                      ' <a href="{{ profile.first_name }}">You</a>')


def test_the_redirect_keeps_every_parameter_and_data_urls_are_not_redirected(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, settings="tracking: {links: true}", journeys={"promo": PROMO},
                              templates={"offer.email.html": OFFER})
    server.env = {"NUDGE_PUBLIC_URL": server.url}
    server.start()
    try:
        server.post({"type": "promo", "customer_id": "c1",
                     "traits": {"email": "ann@example.com", "first_name": "https://evil.example/login"}})
        server.wait_for(lambda: len(server.messages()) == 1, what="the promo email")
        sent = str(server.messages()[0]["html"])
        links = re.findall(r'href="([^"]+)"', sent)
        assert links[1] == "https://evil.example/login"
        response = httpx.get(links[0])
        assert response.status_code == 302
        assert response.headers["location"] == ("https://shop.example/p?c=red&c=blue&q=a%20b&utm_source=nudge"
                                                "&utm_medium=email&utm_campaign=promo&utm_content=offer")
    finally:
        server.stop()
