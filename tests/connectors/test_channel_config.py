"""Connectors are chosen in journeys.yaml; a missing secret stops start-up and names the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.channels.config import ConfigError, build_senders
from connectors.channels.file import FileSender
from connectors.channels.sendgrid import SendGridSender
from connectors.channels.smtp import SmtpSender
from connectors.channels.twilio import TwilioSender
from engine.runtimes.settings import Settings
from engine.testing import email, write_workspace
from rules.workspace import load_workspace

JOURNEY = "id: hi\ntrigger: {event: x}\nsteps:\n  - send: email\n    template: hi\n"
ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, channels: str, sender: str = 'email: "Shop <hi@shop.example>"\n  sms: "+15550100000"'):
    write_workspace(tmp_path, settings=f"channels:\n{channels}\nsender:\n  {sender}",
                    journeys={"hi": JOURNEY}, templates={"hi.email.html": email("Hi")})
    return load_workspace(tmp_path).workspace.settings


def test_the_file_connector_is_the_default_for_every_channel(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hi": JOURNEY}, templates={"hi.email.html": email("Hi")})
    senders = build_senders(load_workspace(tmp_path).workspace.settings, tmp_path, Settings().providers, "http://x")
    assert {type(s) for s in senders.values()} == {FileSender}


def test_providers_are_chosen_per_channel(tmp_path: Path) -> None:
    s = settings(tmp_path, "  email: {provider: sendgrid}\n  sms: {provider: twilio}")
    env = {"SENDGRID_API_KEY": "SG.x", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t",
           "NUDGE_TWILIO_BASE_URL": "http://127.0.0.1:9"}
    senders = build_senders(s, tmp_path, Settings.from_env(env).providers, "https://nudge.example")
    assert isinstance(senders["email"], SendGridSender) and isinstance(senders["sms"], TwilioSender)
    assert senders["sms"].status_callback == "https://nudge.example/v1/providers/twilio/status"


@pytest.mark.parametrize(("channels", "env", "variable"), [
    ("  email: {provider: sendgrid}", {}, "SENDGRID_API_KEY"),
    ("  email: {provider: smtp}", {}, "NUDGE_SMTP_URL"),
    ("  sms: {provider: twilio}", {"TWILIO_AUTH_TOKEN": "t"}, "TWILIO_ACCOUNT_SID"),
    ("  sms: {provider: twilio}", {"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN"),
])
def test_a_missing_secret_names_the_variable(tmp_path: Path, channels: str, env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable} is not set"):
        build_senders(settings(tmp_path, channels), tmp_path, Settings.from_env(env).providers, "http://x")


def test_a_provider_needs_a_sender_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="settings.sender.email"):
        build_senders(settings(tmp_path, "  email: {provider: smtp}", sender="postal_address: x"), tmp_path,
                      Settings.from_env({"NUDGE_SMTP_URL": "smtp://127.0.0.1:2525"}).providers, "http://x")


def test_a_bad_smtp_url_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NUDGE_SMTP_URL must look like"):
        build_senders(settings(tmp_path, "  email: {provider: smtp}"), tmp_path,
                      Settings.from_env({"NUDGE_SMTP_URL": "mailpit"}).providers, "x")


def test_an_unknown_provider_is_a_validation_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="channels:\n  email: {provider: mailchimp}", journeys={"hi": JOURNEY},
                    templates={"hi.email.html": email("Hi")})
    result = subprocess.run([sys.executable, "-m", "engine", "validate", "-w", str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 1
    assert "journeys.yaml:4:23: got 'mailchimp'; expected 'file', 'sendgrid' or 'smtp'" in result.stderr


def test_nudge_run_refuses_to_start_without_the_secret(tmp_path: Path) -> None:
    settings(tmp_path, "  email: {provider: sendgrid}")
    env = {"PATH": "/usr/bin:/bin", "NUDGE_API_KEYS": "k"}
    result = subprocess.run([sys.executable, "-m", "engine", "run", "-w", str(tmp_path), "--port", "0"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 78  # EX_CONFIG
    assert "SENDGRID_API_KEY is not set: the sendgrid email provider needs an API key" in result.stderr


def test_smtp_sender_reads_its_url(tmp_path: Path) -> None:
    sender = SmtpSender("smtps://user%40x:p%3Ass@mail.example:2465", "Shop <hi@shop.example>")
    assert sender.options | {} == {"hostname": "mail.example", "port": 2465, "use_tls": True, "username": "user@x",
                                   "password": "p:ss", "timeout": 30}
