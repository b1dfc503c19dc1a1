from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from engine.testing import email, write_workspace
from tests.e2e.server import NudgeServer

JOURNEY = """\
id: hello
trigger: {event: signed_up}
steps:
  - id: greet
    send: email
    template: hi
  - wait: 1s
  - id: later
    send: email
    template: hi
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    root = write_workspace(tmp_path / "ws", journeys={"hello": JOURNEY},
                           templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
    srv = NudgeServer(root, tmp_path / "nudge.db").start()
    yield srv
    srv.stop()
