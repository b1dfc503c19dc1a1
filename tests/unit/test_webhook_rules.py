"""A webhook step sends customer data only over TLS (http to this machine only), and the http provider signs."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.api.auth import Secret, SignatureChecker
from connectors.channels.config import ConfigError, build_senders
from connectors.channels.webhook import WebhookSender, request_of
from engine.runtimes.settings import ProviderSettings
from engine.testing import write_workspace
from rules.workspace import WorkspaceError, load_workspace
from tests.helpers import message


def hook(url: str) -> str:
    return f"id: hook\ntrigger: {{event: go}}\nsteps:\n  - send: webhook\n    url: {url}\n    body: {{a: \"'b'\"}}\n"


@pytest.mark.parametrize("url", ["https://crm.example/hook", "http://localhost:8027/tasks", "http://127.0.0.1/t",
                                 "http://[::1]:9/t"])
def test_https_and_local_http_webhooks_are_valid(tmp_path: Path, url: str) -> None:
    write_workspace(tmp_path, journeys={"hook": hook(url)})
    assert load_workspace(tmp_path).workspace.journeys[0].id == "hook"


@pytest.mark.parametrize("url", ["http://crm.example/hook", "ftp://crm.example/x", "https:///nohost", "http://[::1/x",
                                 "http://localhost.evil.example/x"])
def test_a_webhook_url_not_https_is_refused_at_its_place(tmp_path: Path, url: str) -> None:
    write_workspace(tmp_path, journeys={"hook": hook(url)})
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith("journeys/hook.yaml:5:10: webhook url ")
    assert "https://" in problem or "not a URL" in problem


def test_the_signature_covers_the_exact_body_sent_and_the_key_is_the_message_id() -> None:
    webhook = message("m1", channel="webhook", template=None, to="https://crm.example/t", body={"b": 1, "a": 2})
    method, url, body, headers = request_of(webhook, "s3cret", 1_770_000_000)
    assert (method, url, body) == ("POST", "https://crm.example/t", b'{"a":2,"b":1}')
    assert headers["Idempotency-Key"] == "m1"
    assert SignatureChecker(Secret("s3cret")).check(headers["Nudge-Signature"], body, 1_770_000_010) is None
    assert SignatureChecker(Secret("other")).check(headers["Nudge-Signature"], body, 1_770_000_010) is not None


def test_the_http_webhook_provider_needs_a_signing_secret(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="channels: {webhook: {provider: http}}", journeys={"hook": hook("https://c.example/")})
    settings = load_workspace(tmp_path).workspace.settings
    with pytest.raises(ConfigError, match="NUDGE_WEBHOOK_SIGNING_SECRET"):
        build_senders(settings, tmp_path, ProviderSettings(), "http://x")
    senders = build_senders(settings, tmp_path, ProviderSettings(webhook_signing_secret=Secret("s")), "http://x")
    assert isinstance(senders["webhook"], WebhookSender)
