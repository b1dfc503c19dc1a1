from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    """`hello` with a 1 s wait between its two emails."""
    srv = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI}).start()
    yield srv
    srv.stop()
