"""The process's configuration: every environment variable Nudge reads, parsed once at start-up and passed down.

Only the commands read the environment (`Settings.from_env(os.environ)`); everything below them takes
these values, so a test builds a `Settings` instead of patching the environment. A bad value stops the
start with one line naming the variable (exit 78), and a secret is a `Secret`, which never prints.
docs/operations.md ("Environment variables") lists them all; a test keeps that table complete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from engine.runtimes.retry import RetryPolicy
from engine.runtimes.startup import EX_CONFIG, StartupError

ACCEPT_WITHIN = 5.0  # seconds: the API answers 503 rather than 202 for an event the broker has not taken by then
STORES = ("memory://", "rocksdb://")  # faust's table stores Nudge installs (rocksdict comes with the kafka extra)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Secret(str):
    """A string that never prints itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('**********')"


class SettingError(StartupError):
    """A variable whose value Nudge cannot use: the command prints the message and exits 78."""

    def __init__(self, message: str) -> None:
        super().__init__(EX_CONFIG, message)


@dataclass(frozen=True)
class ApiSettings:
    """Who may call the HTTP API (docs/operations.md, "Authentication")."""

    keys: tuple[Secret, ...] = ()  # none: one is generated and kept beside the database
    write_keys: tuple[Secret, ...] = ()  # may only post events (a website's page holds them)
    reports_keys: tuple[Secret, ...] = ()  # may only read /reports
    signing_secret: Secret | None = None  # set: event posts must carry a Nudge-Signature made with it


@dataclass(frozen=True)
class ProviderSettings:
    """The channel providers' secrets and endpoints, and the keys their feedback webhooks are checked with."""

    timeout: float = 15.0  # seconds an HTTP provider has to answer before the hand-off is in doubt
    webhook_signing_secret: Secret | None = None
    sendgrid_api_key: Secret | None = None
    sendgrid_base_url: str | None = None  # None: the real API
    sendgrid_webhook_public_key: str | None = None
    smtp_url: Secret | None = None  # a Secret: the URL carries the password
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = None
    twilio_base_url: str | None = None  # None: the real API


@dataclass(frozen=True)
class KafkaSettings:
    """Where `nudge worker` and `nudge api --kafka` find the broker, their topics and their tables."""

    link_secret: Secret  # one for the whole deployment: workers sign the links the API checks
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = 8
    app_id: str = "nudge"
    store: str = "memory://"
    data_dir: str = ".nudge-worker"
    public_url: str = "http://127.0.0.1:8080"
    session_timeout: float = 30.0  # how soon partitions of a dead worker move to the living
    # a timer is asked for this long after it is due: an event the API accepted before the due time
    # (stamped received_at) reaches the broker within ACCEPT_WITHIN, clocks may differ by a second,
    # and the timer still runs at its due journey time (SPEC §14: events first, whatever the lag)
    fire_grace: float = ACCEPT_WITHIN + 1.0

    def topic(self, name: str) -> str:
        """Topics are named after the app id, so several deployments can share a cluster."""
        return f"{self.app_id}.{name}"


@dataclass(frozen=True)
class Settings:
    """Everything the environment configures; `Settings()` is a process with no variable set."""

    public_url: str | None = None  # None: the address the server listens on
    log_level: str | None = None  # None: INFO for servers, WARNING for workers
    api: ApiSettings = field(default_factory=ApiSettings)
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    shutdown_grace: float = 10.0  # how long a stopping server waits for hand-offs in flight
    kafka: KafkaSettings = field(default_factory=lambda: KafkaSettings(link_secret=Secret()))  # no secret: see below

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Reads and checks every variable at once, so a typo stops the start rather than a send hours later."""
        env = _Reader(environ)
        public_url = env.url("NUDGE_PUBLIC_URL")
        link_secret = env.secret("NUDGE_LINK_SECRET")
        kafka = KafkaSettings(  # checked even for `nudge run`, which has no use for it: a typo is a typo
            link_secret=link_secret if link_secret and link_secret != "change-me" else Secret(),
            bootstrap=env.text("NUDGE_KAFKA_BOOTSTRAP") or KafkaSettings.bootstrap,
            partitions=env.count("NUDGE_KAFKA_PARTITIONS", KafkaSettings.partitions),
            app_id=env.text("NUDGE_KAFKA_APP_ID") or KafkaSettings.app_id,
            store=env.store("NUDGE_KAFKA_STORE", KafkaSettings.store),
            data_dir=env.text("NUDGE_KAFKA_DATA_DIR") or KafkaSettings.data_dir,
            public_url=public_url or KafkaSettings.public_url,
            session_timeout=env.seconds("NUDGE_KAFKA_SESSION_TIMEOUT", KafkaSettings.session_timeout, positive=True),
            fire_grace=max(ACCEPT_WITHIN, env.seconds("NUDGE_KAFKA_FIRE_GRACE", KafkaSettings.fire_grace)),
        )
        return cls(
            public_url=public_url,
            log_level=env.log_level("NUDGE_LOG_LEVEL"),
            api=ApiSettings(keys=env.secrets("NUDGE_API_KEYS"), write_keys=env.secrets("NUDGE_WRITE_KEYS"),
                            reports_keys=env.secrets("NUDGE_REPORTS_KEYS"),
                            signing_secret=env.secret("NUDGE_WEBHOOK_SECRET")),
            providers=ProviderSettings(
                timeout=env.seconds("NUDGE_PROVIDER_TIMEOUT", ProviderSettings.timeout, positive=True),
                webhook_signing_secret=env.secret("NUDGE_WEBHOOK_SIGNING_SECRET"),
                sendgrid_api_key=env.secret("SENDGRID_API_KEY"),
                sendgrid_base_url=env.url("NUDGE_SENDGRID_BASE_URL"),
                sendgrid_webhook_public_key=env.text("SENDGRID_WEBHOOK_PUBLIC_KEY"),
                smtp_url=env.secret("NUDGE_SMTP_URL"),
                twilio_account_sid=env.text("TWILIO_ACCOUNT_SID"),
                twilio_auth_token=env.secret("TWILIO_AUTH_TOKEN"),
                twilio_base_url=env.url("NUDGE_TWILIO_BASE_URL")),
            retry=RetryPolicy(base_delay=env.seconds("NUDGE_RETRY_BASE_DELAY", RetryPolicy.base_delay, positive=True),
                              max_delay=env.seconds("NUDGE_RETRY_MAX_DELAY", RetryPolicy.max_delay, positive=True),
                              give_up_after=env.seconds("NUDGE_RETRY_GIVE_UP_AFTER", RetryPolicy.give_up_after)),
            shutdown_grace=env.seconds("NUDGE_SHUTDOWN_GRACE", cls.shutdown_grace),
            kafka=kafka,
        )

    def kafka_or_refuse(self) -> KafkaSettings:
        """The Kafka settings of a worker or an edge, which sign and check links: refused without
        NUDGE_LINK_SECRET, as a default secret would let anyone forge links (an import needs none)."""
        if not self.kafka.link_secret:
            raise SettingError("NUDGE_LINK_SECRET is not set: workers sign unsubscribe and tracking links with it "
                               "and the API checks them; set the same random value everywhere "
                               "(e.g. openssl rand -hex 32)")
        return self.kafka


class _Reader:
    """One variable at a time: blank is unset; a bad value is refused naming the variable (never quoting a secret)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str) -> str | None:
        return self.environ.get(name, "").strip() or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value else None

    def secrets(self, name: str) -> tuple[Secret, ...]:
        """A comma-separated list: `k1,k2`."""
        return tuple(Secret(k.strip()) for k in (self.text(name) or "").split(",") if k.strip())

    def seconds(self, name: str, default: float, positive: bool = False) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingError(f"{name} must be a number of seconds, not '{raw}'") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise SettingError(f"{name} must be a {'positive' if positive else 'finite, not negative'} "
                               f"number of seconds, not '{raw}'")
        return value

    def count(self, name: str, default: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) == 0:
            raise SettingError(f"{name} must be a whole number over 0, not '{raw}'")
        return int(raw)

    def url(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is not None and not raw.lower().startswith(("http://", "https://")):
            raise SettingError(f"{name} must be an http:// or https:// URL, not '{raw}'")
        return raw

    def store(self, name: str, default: str) -> str:
        raw = self.text(name) or default
        if not raw.lower().startswith(STORES):
            raise SettingError(f"{name} must be one of {', '.join(STORES)}, not '{raw}'")
        return raw

    def log_level(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.upper() not in LOG_LEVELS:
            raise SettingError(f"{name} must be one of {', '.join(LOG_LEVELS)}, not '{raw}'")
        return raw.upper()
