"""A content test's winner on a real `nudge run` (SPEC §11): its check waits in the database through a
SIGKILL and a restart, then every later send uses the winner."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from engine.testing import email
from tests.e2e.server import workspace_server

OFFER = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: offer
    send: email
    template: offer
    variants: [{name: A, weight: 1}, {name: B, weight: 1, template: offer_b}]
    winner: {metric: clicked, after: 40s, min_per_variant: 5, confidence: 0.95}
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def signups(names: list[str]) -> list[dict[str, Any]]:
    return [{"id": f"s-{c}", "type": "signed_up", "customer_id": c, "timestamp": now(),
             "traits": {"email": f"{c}@example.com"}} for c in names]


def test_a_winner_check_survives_a_crash_and_the_winner_is_sent_after_it(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"promo": OFFER},
                              templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")}).start()
    try:
        assert server.post(signups([f"c{n}" for n in range(24)])).status_code == 202
        server.wait_for(lambda: len(server.messages()) == 24, timeout=60, what="the test's messages")
        sent = server.messages()
        clicks = [{"id": f"k-{m['id']}", "type": "email_clicked", "customer_id": m["customer_id"], "timestamp": now(),
                   "properties": {"message_id": m["id"]}} for m in sent if m["variant"] == "offer:B"]
        assert server.post(clicks).status_code == 202
        server.kill()   # SIGKILL before the check is due
        assert server.query("SELECT COUNT(*) FROM timers WHERE kind = 'winner'") == [(1,)]
        server.start()
        server.wait_for(lambda: server.query("SELECT COUNT(*) FROM records WHERE type = 'winner'") == [(1,)],
                        timeout=90, what="the winner record")
        [(body,)] = server.query("SELECT body FROM records WHERE type = 'winner'")
        assert {k: v for k, v in orjson.loads(body).items() if k != "at"} == {
            "journey": "promo", "type": "winner", "step": "offer", "variant": "B", "metric": "clicked",
            "reason": "significant"}
        assert server.post(signups([f"late{n}" for n in range(6)])).status_code == 202
        server.wait_for(lambda: len(server.messages()) == 30, timeout=60, what="the later messages")
        late = [m for m in server.messages() if m["customer_id"].startswith("late")]
        assert {(m["variant"], m["template"]) for m in late} == {("offer:B", "offer_b")}
    finally:
        server.stop()
