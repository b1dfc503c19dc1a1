"""The official Segment and RudderStack server libraries deliver to a real `nudge run`, each event once,
even when a post that Nudge accepted is answered with a 500 and the library sends it again."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from engine.testing import email, journey_yaml, send_step
from tests.e2e.server import NudgeServer, workspace_server

pytest.importorskip("segment.analytics", reason="pip install segment-analytics-python (the test extra)")
pytest.importorskip("rudderstack.analytics", reason="pip install rudder-sdk-python (the test extra)")

WRITE_KEY = "wk_site"


class FlakyProxy:
    """Forwards every post to Nudge, then answers the first `failures` of them 500 as if it had failed:
    the worst case for duplicates, since Nudge did take the events the library will send again."""

    def __init__(self, target: str, failures: int = 1) -> None:
        self.failures, self.posts = failures, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() in
                           ("authorization", "content-type", "content-encoding")}
                answer = httpx.post(target + self.path, content=body, headers=headers, timeout=30)
                proxy.posts += 1
                status = 500 if proxy.posts <= proxy.failures else answer.status_code
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[NudgeServer]:
    """`thanks` emails once per order_completed; "Checkout Finished" is mapped onto it by settings."""
    journey = journey_yaml("thanks", "{event: order_completed}", send_step("thank", "hi"), reentry="after_exit")
    srv = workspace_server(tmp_path, settings='event_names: {"Checkout Finished": order_completed}',
                           journeys={"thanks": journey}, templates={"hi.email.html": email("Thanks {{ profile.first_name }}")},
                           env={"NUDGE_WRITE_KEYS": WRITE_KEY}).start()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(shop: NudgeServer) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(shop.url)
    yield flaky
    flaky.close()


def _deliver(shop: NudgeServer, customers: list[str]) -> None:
    shop.wait_for(lambda: sorted(m["customer_id"] for m in shop.messages()) == sorted(customers)
                  and shop.health()["events_pending"] == 0, what="one thank-you per order")


def test_segment_library_events_arrive_once_when_an_accepted_post_is_retried(shop: NudgeServer, proxy: FlakyProxy) -> None:
    from segment.analytics.client import Client

    client = Client(WRITE_KEY, host=proxy.url, gzip=True, max_retries=3)
    client.identify("ann", {"email": "ann@example.com", "firstName": "Ann"})
    client.track("ann", "Order Completed", {"total": 59.0})
    client.identify("bob", {"email": "bob@example.com", "firstName": "Bob"})
    client.track("bob", "Checkout Finished", {"total": 12.0})
    client.flush()
    client.join()

    assert proxy.posts >= 2, "the library sent the failed batch again"
    _deliver(shop, ["ann", "bob"])
    rows = shop.query("SELECT customer, json_extract(body, '$.type') FROM events ORDER BY seq")
    assert rows == [("ann", "identify"), ("ann", "order_completed"), ("bob", "identify"), ("bob", "order_completed")]
    assert {m["customer_id"]: m["subject"] for m in shop.messages()} == {"ann": "Thanks Ann", "bob": "Thanks Bob"}


def test_rudderstack_library_events_arrive_once_when_an_accepted_post_is_retried(shop: NudgeServer, proxy: FlakyProxy) -> None:
    from rudderstack.analytics.client import Client

    client = Client(WRITE_KEY, host=proxy.url, max_retries=3)
    client.identify("cy", {"email": "cy@example.com", "firstName": "Cy"}, anonymous_id="visitor-1")
    client.track("cy", "Order Completed", {"total": 30})
    client.flush()
    client.join()

    assert proxy.posts >= 2
    _deliver(shop, ["cy"])
    assert shop.query("SELECT count(*) FROM events") == [(2,)]
    assert shop.query("SELECT anonymous_id, customer_id FROM aliases") == [("visitor-1", "cy")]


def test_a_write_key_posts_events_but_reads_nothing(shop: NudgeServer) -> None:
    with shop.client(WRITE_KEY) as c:
        assert c.post("/v1/events", json={"type": "ping", "customer_id": "dee"}).status_code == 202
        assert c.get("/v1/customers/dee").status_code == 403
    assert httpx.post(shop.url + "/v1/track", auth=("nope", ""), json={"userId": "x", "event": "E"}).status_code == 403
    assert httpx.post(shop.url + "/v1/track", json={"userId": "x", "event": "E"}).status_code == 401


def test_a_gzip_bomb_is_refused_without_inflating_it(shop: NudgeServer) -> None:
    import gzip

    bomb = gzip.compress(b'{"batch": [' + b" " * (8 * 1024 * 1024) + b"]}")
    answer = httpx.post(shop.url + "/v1/batch", auth=(WRITE_KEY, ""), content=bomb,
                        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert answer.status_code == 413
