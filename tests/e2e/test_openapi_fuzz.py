"""schemathesis against a real `nudge run`'s /openapi.json (issue #12): no 5xx, no status code the document
does not declare; and the docs pages load nothing from the network."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connectors.fakes.sendgrid import SendGridFake
from connectors.fakes.twilio import TwilioFake
from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def nudge(tmp_path: Path) -> NudgeServer:
    """Provider endpoints configured (unconfigured, they answer a documented 503 that fuzzing would flag)."""
    env = {"NUDGE_WRITE_KEYS": "wk_site", "SENDGRID_WEBHOOK_PUBLIC_KEY": SendGridFake().public_key,
           "TWILIO_AUTH_TOKEN": TwilioFake().auth_token}
    return workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI}, env=env)


def test_no_operation_answers_5xx_or_a_status_it_does_not_document(nudge: NudgeServer) -> None:
    if not SCHEMATHESIS.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (the test extra)")
    nudge.start()
    try:
        run = subprocess.run(
            [str(SCHEMATHESIS if SCHEMATHESIS.exists() else "schemathesis"), "run", nudge.url + "/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance", "--max-examples", "30", "--seed", "17",
             "--generation-deterministic", "--header", f"Authorization: Bearer {nudge.api_key}",
             "--request-timeout", "30", "--continue-on-failure", "--no-color"],
            capture_output=True, text=True, timeout=900, cwd=nudge.db.parent)
    finally:
        nudge.stop()
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]


def test_docs_and_redoc_use_only_assets_served_by_nudge(nudge: NudgeServer) -> None:
    nudge.start()
    try:
        for page in ("/docs", "/redoc"):
            html = httpx.get(nudge.url + page).text
            assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?'([^']+)'", html)
            assert assets, page
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                assert httpx.get(nudge.url + asset).status_code == 200, asset
    finally:
        nudge.stop()
