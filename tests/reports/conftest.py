"""A workspace with a split and a holdout, replayed by `nudge simulate`, with provider feedback for its sends."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.testing import email, write_workspace

ROOT = Path(__file__).resolve().parents[2]
JOURNEY = """\
id: promo
name: Spring promo
trigger: {event: signed_up}
goal: {event: purchase, within: 7d, value: "event.properties.total"}
steps:
  - split:
      name: offer
      variants:
        - name: discount
          weight: 1
          steps:
            - id: discount_mail
              send: email
              template: hi
        - name: holdout
          weight: 1
"""


def nudge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@dataclass(frozen=True)
class Replay:
    workspace: Path
    records: Path
    events: Path
    sent: list[dict[str, Any]]


@pytest.fixture
def replay(tmp_path: Path) -> Replay:
    """20 sign-ups on 1 March; every customer c0..c9 buys 50 EUR the next day; sends opened and the first clicked."""
    root = write_workspace(tmp_path / "ws", settings="currency: EUR", journeys={"promo": JOURNEY},
                           templates={"hi.email.html": email("Hi")})
    events: list[dict[str, Any]] = []
    for i in range(20):
        events.append({"id": f"s{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": f"2026-03-01T10:{i:02d}:00Z",
                       "traits": {"email": f"c{i}@example.com"}})
        if i < 10:
            events.append({"id": f"o{i}", "type": "purchase", "customer_id": f"c{i}", "timestamp": "2026-03-02T10:00:00Z",
                           "properties": {"total": 50.0}})
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    result = nudge("simulate", "--workspace", str(root), "--events", str(root / "events.jsonl"),
                   "--until", "2026-03-20T00:00:00Z", "-o", str(root / "records.jsonl"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (root / "records.jsonl").read_text().splitlines()]
    sent = [r for r in records if r["type"] == "send" and r["status"] == "sent"]
    feedback = [{"id": f"op{n}", "type": "email_opened", "customer_id": r["customer_id"], "timestamp": "2026-03-01T12:00:00Z",
                 "properties": {"message_id": r["message_id"]}} for n, r in enumerate(sent)]
    feedback.append({"id": "cl0", "type": "email_clicked", "customer_id": sent[0]["customer_id"],
                     "timestamp": "2026-03-01T12:05:00Z", "properties": {"message_id": sent[0]["message_id"]}})
    (root / "all-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events + feedback))
    return Replay(root, root / "records.jsonl", root / "all-events.jsonl", sent)
