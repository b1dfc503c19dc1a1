"""A real `nudge run`: a reminder time moved while the customer waits fires at the new time only, across a restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.testing import email
from tests.e2e.server import workspace_server

REMIND = """\
id: remind
trigger: {event: signed_up}
steps:
  - id: at_chosen
    wait_until: {time: "profile.reminder_time", default: {time: "03:00"}}
  - id: reminder
    send: email
    template: reminder
"""


def test_a_reminder_moved_earlier_while_waiting_comes_at_the_new_time_and_not_again(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"remind": REMIND},
                              templates={"reminder.email.html": email("Your reminder")}).start()
    try:
        now = datetime.now(timezone.utc)
        # whole minutes (times are HH:MM): the nearer at least 30 s ahead, for the posts and the restart
        near = now.replace(second=0, microsecond=0) + timedelta(minutes=1 if now.second < 30 else 2)
        far = near + timedelta(minutes=1)
        server.post({"type": "signed_up", "customer_id": "c1",
                     "traits": {"email": "c1@example.com", "reminder_time": f"{far:%H:%M}"}})
        server.wait_for(lambda: server.query("SELECT COUNT(*) FROM records WHERE type = 'entered'") == [(1,)],
                        what="the entry")
        server.post({"type": "preferences_updated", "customer_id": "c1", "traits": {"reminder_time": f"{near:%H:%M}"}})
        server.wait_for(lambda: server.query("SELECT COUNT(*) FROM timers") == [(1,)]
                        and server.query("SELECT due FROM timers")[0][0] == near.timestamp(), what="the re-planned timer")
        server.restart()  # the new wake-up is durable
        server.wait_for(lambda: len(server.messages()) == 1, timeout=200, what="the reminder at the new time")
        server.wait_for(lambda: datetime.now(timezone.utc) > far + timedelta(seconds=5), timeout=200,
                        what="the old time to pass")
        server.wait_for(lambda: server.query("SELECT COUNT(*) FROM events WHERE status = 'pending'") == [(0,)],
                        what="nothing left to process")
        sends = [json.loads(b) for (b,) in server.query("SELECT body FROM records WHERE type = 'send'")]
        assert [(s["at"], s["step"]) for s in sends] == [(f"{near:%Y-%m-%dT%H:%M:%SZ}", "reminder")]
        assert len(server.messages()) == 1
    finally:
        server.stop()
