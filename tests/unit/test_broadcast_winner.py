"""A broadcast tests two versions on a share of the list and sends the winner to the rest (SPEC §11, §13):
the switch shows in `simulate`. Needs content tests (engine.experiments): skipped where they are not."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.testing import email
from engine.turn import iso
from tests.unit.test_broadcasts import run, workspace

pytest.importorskip("engine.experiments")

TEST_THEN_WINNER = """\
id: spring_sale
send_at: {utc: "2026-03-10T09:00:00Z"}
steps:
  - split:
      name: phase
      variants:
        - {name: test, weight: 20}
        - name: rest
          weight: 80
          steps:
            - wait: 4h
  - id: announce
    send: email
    template: sale
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 1, template: sale_b}
    winner: {metric: clicked, after: 3h, min_per_variant: 50, confidence: 0.95}
"""
PEOPLE = {f"c{n}": {"email": f"c{n}@example.com"} for n in range(600)}


def test_the_test_group_decides_and_the_rest_of_the_list_gets_the_winner(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"b": TEST_THEN_WINNER})
    (root / "templates" / "sale_b.email.html").write_text(email("Spring sale: 20% off"))
    first = run(root, PEOPLE)
    clicks: list[dict[str, Any]] = []
    for r in first:
        if r["type"] == "send" and r["at"] == "2026-03-10T09:00:00Z":
            n = int(r["customer_id"][1:])
            if n % 5 < (4 if r["variant"].endswith(":B") else 1):  # B's readers click four times as often
                at = datetime.fromisoformat(r["at"].replace("Z", "+00:00")) + timedelta(hours=1)
                clicks.append({"type": "email_clicked", "customer_id": r["customer_id"], "timestamp": iso(at),
                               "properties": {"message_id": r["message_id"], "url": "https://shop.example/"}})
    records = run(root, PEOPLE, clicks)
    [winner] = [r for r in records if r["type"] == "winner"]
    assert (winner["journey"], winner["step"], winner["variant"], winner["at"]) == (
        "spring_sale", "announce", "B", "2026-03-10T12:00:00Z")
    sends = [r for r in records if r["type"] == "send"]
    tested = [r for r in sends if r["at"] == "2026-03-10T09:00:00Z"]
    rest = [r for r in sends if r["at"] == "2026-03-10T13:00:00Z"]
    assert {r["variant"].split("/")[-1] for r in tested} == {"announce:A", "announce:B"}
    assert rest and all(r["template"] == "sale_b" for r in rest)
    assert len(tested) + len(rest) == len(PEOPLE)
