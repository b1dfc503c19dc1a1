"""The environment is read in one place, checked at start-up, documented in full, and never prints a secret."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from engine.runtimes.retry import RetryPolicy
from engine.runtimes.settings import KafkaSettings, Secret, SettingError, Settings
from engine.runtimes.startup import EX_CONFIG

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"NUDGE_API_KEYS": "key-one,key-two", "NUDGE_WRITE_KEYS": "write-key", "NUDGE_REPORTS_KEYS": "report-key",
           "NUDGE_WEBHOOK_SECRET": "post-secret", "NUDGE_WEBHOOK_SIGNING_SECRET": "hook-secret",
           "SENDGRID_API_KEY": "SG.sendgrid-key", "NUDGE_SMTP_URL": "smtp://ann:smtp-password@mail.example:587",
           "TWILIO_AUTH_TOKEN": "twilio-token", "NUDGE_LINK_SECRET": "link-secret"}


class Recording(Mapping[str, str]):
    """An environment that remembers every name asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.asked = values, set[str]()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings ask for their variables by name; they never list the environment")

    def __len__(self) -> int:
        return len(self.values)


def test_no_variable_set_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.providers.timeout, settings.retry, settings.shutdown_grace) == (15.0, RetryPolicy(), 10.0)
    assert settings.kafka.link_secret == "" and settings.api.keys == ()


def test_values_are_parsed_into_types() -> None:
    settings = Settings.from_env({**SECRETS, "NUDGE_RETRY_BASE_DELAY": "1", "NUDGE_RETRY_MAX_DELAY": "60",
                                  "NUDGE_RETRY_GIVE_UP_AFTER": "600", "NUDGE_SHUTDOWN_GRACE": " 3 ",
                                  "NUDGE_KAFKA_PARTITIONS": "4", "NUDGE_KAFKA_FIRE_GRACE": "1",
                                  "NUDGE_KAFKA_STORE": "rocksdb://", "NUDGE_PUBLIC_URL": "https://nudge.example",
                                  "NUDGE_LOG_LEVEL": "warning", "NUDGE_WEBHOOK_SECRET": ""})
    assert (settings.retry, settings.shutdown_grace) == (RetryPolicy(base_delay=1, max_delay=60, give_up_after=600), 3)
    assert settings.api.keys == ("key-one", "key-two") and settings.api.signing_secret is None
    assert settings.log_level == "WARNING"
    kafka = settings.kafka_or_refuse()
    assert (kafka.partitions, kafka.store, kafka.public_url) == (4, "rocksdb://", "https://nudge.example")
    assert kafka.fire_grace == KafkaSettings.fire_grace - 1  # never under ACCEPT_WITHIN


@pytest.mark.parametrize(("name", "value"), [
    ("NUDGE_RETRY_BASE_DELAY", "soon"), ("NUDGE_RETRY_BASE_DELAY", "0"), ("NUDGE_RETRY_MAX_DELAY", "-1"),
    ("NUDGE_RETRY_GIVE_UP_AFTER", "inf"), ("NUDGE_SHUTDOWN_GRACE", "soon"), ("NUDGE_PROVIDER_TIMEOUT", "0"),
    ("NUDGE_KAFKA_PARTITIONS", "eight"), ("NUDGE_KAFKA_PARTITIONS", "0"), ("NUDGE_KAFKA_SESSION_TIMEOUT", "nan"),
    ("NUDGE_KAFKA_FIRE_GRACE", "later"), ("NUDGE_KAFKA_STORE", "redis://localhost"),
    ("NUDGE_PUBLIC_URL", "nudge.example"), ("NUDGE_TWILIO_BASE_URL", "127.0.0.1:9"), ("NUDGE_LOG_LEVEL", "loud"),
])
def test_a_bad_value_is_refused_in_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_env({name: value})
    assert refused.value.status == EX_CONFIG
    assert str(refused.value).startswith(f"{name} must be ") and f"'{value}'" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_kafka_commands_refuse_to_go_without_a_link_secret() -> None:
    for environ in ({}, {"NUDGE_LINK_SECRET": " "}, {"NUDGE_LINK_SECRET": "change-me"}):
        with pytest.raises(SettingError, match="^NUDGE_LINK_SECRET is not set") as refused:
            Settings.from_env(environ).kafka_or_refuse()
        assert refused.value.status == EX_CONFIG
    assert Settings.from_env({"NUDGE_LINK_SECRET": "s3cret"}).kafka_or_refuse().link_secret == "s3cret"


def test_no_secret_is_shown_by_repr_str_or_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env(SECRETS)
    caplog.set_level(logging.INFO)
    logging.getLogger("nudge.test").info("starting with %s; %r", settings, settings)
    shown = " ".join([repr(settings), str(settings), caplog.text])
    values = {part for value in SECRETS.values() for part in value.split(",")}
    assert "Secret('**********')" in shown
    assert not [value for value in values if value in shown]
    assert "smtp-password" not in shown
    assert isinstance(settings.providers.smtp_url, Secret)


def documented() -> set[str]:
    """The names in the table of docs/operations.md, "Environment variables"."""
    text = (ROOT / "docs/operations.md").read_text()
    section = text.split("\n## Environment variables\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", section, re.MULTILINE))


def command_line_defaults() -> set[str]:
    """Variables typer reads as an option's default (`typer.Option(envvar=...)`)."""
    modules = sorted((ROOT / "engine/cli").glob("*.py"))
    assert modules, "no command line modules found"
    return {k.value.value for path in modules for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call)
            for k in node.keywords if k.arg == "envvar" and isinstance(k.value, ast.Constant)}


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    environ = Recording({})
    Settings.from_env(environ)
    assert environ.asked, "nothing read"
    read = environ.asked | command_line_defaults()
    assert sorted(read - documented()) == [], "read but not in docs/operations.md"
    assert sorted(documented() - read) == [], "documented but never read"


def environment_reads(path: Path) -> list[str]:
    """`os.environ`, `environ` and `getenv` wherever they are not handed to Settings.from_env."""
    tree = ast.parse(path.read_text())
    handed = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute) and node.func.attr == "from_env" for arg in node.args}
    found = []
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else \
            node.arg if isinstance(node, ast.arg) else None
        if name in ("environ", "getenv", "environb") and id(node) not in handed:
            found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    """A variable read anywhere else would escape the checks at start-up and the documentation test above."""
    modules = [p for d in ("rules", "engine", "connectors") for p in (ROOT / d).rglob("*.py")
               if p != ROOT / "engine/runtimes/settings.py"]
    assert [read for path in modules for read in environment_reads(path)] == []
