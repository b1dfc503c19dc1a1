"""What the page tests share: signed links as the server makes them, forms read back from a page."""

from __future__ import annotations

import re
import sqlite3
from html import unescape

from engine.links import SignedLinks
from tests.e2e.server import NudgeServer


def links_of(server: NudgeServer) -> SignedLinks:
    """The server's own signing key (kept in its database), so a test can make the link an email would carry."""
    with sqlite3.connect(server.db) as conn:
        (secret,) = conn.execute("SELECT value FROM meta WHERE key = 'link_secret'").fetchone()
    return SignedLinks(str(secret).encode(), server.url)


def form_token(page: str) -> str:
    """The hidden anti-forgery field of the page's forms."""
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found is not None, page
    return unescape(found[1])


def traits(server: NudgeServer, customer_id: str) -> dict[str, object]:
    with server.client() as c:
        response = c.get(f"/v1/customers/{customer_id}")
    return dict(response.json()["traits"]) if response.status_code == 200 else {}
