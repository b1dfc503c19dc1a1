"""The demo's "call this VIP" task reaches a CRM over HTTP from a real `nudge run`, signed, once."""

from __future__ import annotations

import shutil
from pathlib import Path

from connectors.fakes.crm import CrmFake, create_app
from connectors.fakes.server import FakeServer
from tests.e2e.server import ROOT, NudgeServer

SECRET = "whsec_e2e"


def demo_posting_to(tmp_path: Path, crm_url: str) -> Path:
    """A copy of the demo workspace with the documented switch: webhook sends over HTTP, to this CRM."""
    root = tmp_path / "demo"
    shutil.copytree(ROOT / "journeys", root / "journeys")
    shutil.copytree(ROOT / "templates", root / "templates")
    text = (ROOT / "journeys.yaml").read_text().replace("settings:\n", "settings:\n  channels: {webhook: {provider: http}}\n", 1)
    (root / "journeys.yaml").write_text(text)
    vip = root / "journeys" / "09_vip_call.yaml"
    vip.write_text(vip.read_text().replace("http://127.0.0.1:8027", crm_url))
    return root


def test_a_new_vip_becomes_one_signed_task_in_the_crm(tmp_path: Path) -> None:
    crm = CrmFake(secret=SECRET)
    with FakeServer(create_app(crm)) as url:
        nudge = NudgeServer(demo_posting_to(tmp_path, url), tmp_path / "nudge.db",
                            env={"NUDGE_WEBHOOK_SIGNING_SECRET": SECRET}).start()
        try:
            orders = [{"id": f"o{i}", "type": "purchase", "customer_id": "c_chen", "properties": {"total": total},
                       "traits": {"email": "chen@example.jp", "first_name": "Chen"}}
                      for i, total in enumerate([340.0, 190.0, 75.0])]
            assert nudge.post(orders).status_code == 202
            nudge.wait_for(lambda: len(crm.tasks) == 1 and nudge.health()["events_pending"] == 0, what="the CRM task")
            nudge.wait_for(lambda: nudge.query("SELECT status FROM outbox WHERE channel = 'webhook'") == [("sent",)],
                           what="the task recorded sent")
        finally:
            nudge.stop()
    [task] = crm.tasks.values()
    assert task["task"] == {"task": "call this VIP", "customer_id": "c_chen", "email": "chen@example.jp",
                            "first_name": "Chen", "lifetime_value": 530.0}
    assert crm.refused == [] and crm.posts == 1
