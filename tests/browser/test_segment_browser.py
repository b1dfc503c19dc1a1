"""Segment's browser SDK (@segment/analytics-next, from npm) on a page in headless Chromium delivers to a
real `nudge run` across origins, and its events trigger a journey, each once."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.testing import email, journey_yaml, send_step
from tests.e2e.server import NudgeServer, workspace_server

PACKAGE = Path(__file__).parent / "segment"
BUNDLES = PACKAGE / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
WRITE_KEY = "wk_site"

PAGE = """<!doctype html><html><head><title>shop</title>
<script src="/analytics-next/bundles/index.js"></script></head><body><script>
const analytics = AnalyticsNext.AnalyticsBrowser.load({writeKey: "%(key)s", cdnURL: location.origin,
  cdnSettings: {integrations: {"Segment.io": {apiKey: "%(key)s", apiHost: "%(api)s/v1", protocol: "http"}}}});
analytics.identify("eve", {email: "eve@example.com", firstName: "Eve"})
  .then(() => analytics.track("Order Completed", {total: 5}))
  .then(() => { document.title = "sent"; }, (e) => { document.title = "failed: " + e; });
</script></body></html>
"""


def _bundles() -> Path:
    """analytics-next as the lockfile pins it (`npm ci` on first use)."""
    if not BUNDLES.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: it installs @segment/analytics-next for this test")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True, capture_output=True)
    return BUNDLES


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[NudgeServer, str]]:
    """Nudge, and a shop's page on another port of 127.0.0.1 that loads analytics-next from its own origin."""
    bundles = _bundles()
    journey = journey_yaml("thanks", "{event: order_completed}", send_step("thank", "hi"))
    nudge = workspace_server(tmp_path, journeys={"thanks": journey},
                             templates={"hi.email.html": email("Thanks {{ profile.first_name }}")},
                             env={"NUDGE_WRITE_KEYS": WRITE_KEY}).start()
    root = tmp_path / "site"
    (root / "analytics-next").mkdir(parents=True)
    (root / "analytics-next" / "bundles").symlink_to(bundles)
    (root / "index.html").write_text(PAGE % {"key": WRITE_KEY, "api": f"127.0.0.1:{nudge.port}"})

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield nudge, f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        nudge.stop()


def test_analytics_next_in_a_browser_triggers_a_journey_once(browser: Any, site: tuple[NudgeServer, str]) -> None:
    nudge, page = site
    browser.get(page)
    nudge.wait_for(lambda: browser.title != "shop", what="analytics-next to finish sending")
    assert browser.title == "sent"
    nudge.wait_for(lambda: len(nudge.messages()) == 1 and nudge.health()["events_pending"] == 0, what="the thank-you")
    assert nudge.messages()[0]["subject"] == "Thanks Eve"
    browser.refresh()  # the page sends again: new messageIds, so two new events, and `thanks` does not re-enter
    nudge.wait_for(lambda: browser.title == "sent", what="the second visit")
    nudge.wait_for(lambda: nudge.query("SELECT count(*) FROM events") == [(4,)] and nudge.health()["events_pending"] == 0,
                   what="the second visit's events, once each")
    assert len(nudge.messages()) == 1
    rows = nudge.query("SELECT customer, json_extract(body, '$.type'), json_extract(body, '$.properties.context.page.path') "
                       "FROM events ORDER BY seq")
    assert rows[:2] == [("eve", "identify", "/index.html"), ("eve", "order_completed", "/index.html")]
