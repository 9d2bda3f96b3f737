"""Settings: `config.yaml` holds the non-secret defaults, the environment overrides them.

Secrets (Twilio credentials, the session key) only ever come from the environment or,
for the local simulator, from files generated under the instance folder.

>>> settings = load_settings(overrides={"public_url": "https://cc.example.com"})
>>> settings.public_url
'https://cc.example.com'
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time as clock
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from callcenter.config_sections import (
    MESSAGE_KEYS,
    NAME_RE,
    WEEKDAYS,
    DownloadConfig,
    FallbackConfig,
    FollowupsConfig,
    HoursConfig,
    LocalizedText,
    MailboxConfig,
    MessagesConfig,
    MetricsConfig,
    OutboundConfig,
    QueueConfig,
    RetentionConfig,
    StrictModel,
    SupervisionConfig,
    SurveyConfig,
    TicketCategoryConfig,
    TicketKindConfig,
    TicketsConfig,
    TTSConfig,
    VoiceConfig,
    WallboardConfig,
    parse_range,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENVIRONMENT",
    "MESSAGE_KEYS",
    "NAME_RE",
    "SECRET_KEYS",
    "SIMULATOR_ACCOUNT_SID",
    "WEEKDAYS",
    "ConfigError",
    "DownloadConfig",
    "FallbackConfig",
    "FollowupsConfig",
    "HoursConfig",
    "LocalizedText",
    "MailboxConfig",
    "MessagesConfig",
    "MetricsConfig",
    "OutboundConfig",
    "QueueConfig",
    "RetentionConfig",
    "Settings",
    "StrictModel",
    "SupervisionConfig",
    "SurveyConfig",
    "TTSConfig",
    "TicketCategoryConfig",
    "TicketKindConfig",
    "TicketsConfig",
    "VoiceConfig",
    "WallboardConfig",
    "config_path",
    "dump_public",
    "format_validation_error",
    "load_settings",
    "localized",
    "parse_range",
]

DEFAULT_CONFIG_FILE = "config.yaml"
SIMULATOR_ACCOUNT_SID = "AC" + "5" * 32


class ConfigError(Exception):
    """Settings could not be loaded; the message names the file and the key."""


class Settings(StrictModel):
    """Validated settings for one application instance."""

    public_url: str = "http://127.0.0.1:5000"
    database_url: str = "sqlite:///instance/callcenter.db"
    redis_url: str | None = None
    secret_key: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    # The browser softphone's Access Tokens: an API key (SK...) and its secret sign them;
    # the TwiML App (AP...) takes the softphone's outgoing calls.
    twilio_api_key: str = ""
    twilio_api_secret: str = ""
    twilio_twiml_app_sid: str = ""
    simulator: bool = False
    base_dir: str = "."
    instance_dir: str = "instance"
    flows_dir: str = "ivr_flows"
    recordings_dir: str = "recordings"
    knowledge_base_dir: str = "knowledge_base"
    default_flow: str = "main"
    numbers: dict[str, str] = Field(default_factory=dict)
    default_language: str = "en"
    timezone: str = "UTC"
    voices: dict[str, VoiceConfig]
    tts: TTSConfig = TTSConfig()
    hours: dict[str, HoursConfig] = Field(default_factory=dict)
    open_all_hours: bool = False  # the demo: every `hours` entry open around the clock
    queues: dict[str, QueueConfig] = Field(default_factory=dict)
    mailboxes: dict[str, MailboxConfig] = Field(default_factory=dict)
    fallback: FallbackConfig
    messages: MessagesConfig
    dispositions: dict[str, str] = Field(default_factory=lambda: {"resolved": "Resolved"})
    session_hours: float = Field(default=12, gt=0, le=168)
    downloads: DownloadConfig = DownloadConfig()
    retention: RetentionConfig = RetentionConfig()
    metrics: MetricsConfig = MetricsConfig()
    wallboard: WallboardConfig = WallboardConfig()
    supervision: SupervisionConfig = SupervisionConfig()
    tickets: TicketsConfig = TicketsConfig()
    followups: FollowupsConfig = FollowupsConfig()
    survey: SurveyConfig = SurveyConfig()
    outbound: OutboundConfig = OutboundConfig()
    sms_from: str | None = None
    metrics_token: str | None = None  # GET /metrics: this bearer token, else loopback only
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("public_url", "twilio_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return HoursConfig._known_zone(value)

    @field_validator("queues", "mailboxes", "hours")
    @classmethod
    def _plain_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r}: names are lowercase letters, digits and _")
        return value

    @model_validator(mode="after")
    def _references(self) -> Settings:
        if self.default_language not in self.voices:
            raise ValueError(f"default_language {self.default_language!r} has no entry in voices")
        for name, queue in self.queues.items():
            if queue.hours and queue.hours not in self.hours:
                raise ValueError(f"queues.{name}.hours: no hours named {queue.hours!r}")
            if queue.overflow_queue and queue.overflow_queue not in self.queues:
                raise ValueError(
                    f"queues.{name}.overflow_queue: no queue named {queue.overflow_queue!r}"
                )
            if queue.overflow_mailbox and queue.overflow_mailbox not in self.mailboxes:
                raise ValueError(
                    f"queues.{name}.overflow_mailbox: no mailbox named {queue.overflow_mailbox!r}"
                )
        if self.fallback.mailbox not in self.mailboxes:
            raise ValueError(f"fallback.mailbox: no mailbox named {self.fallback.mailbox!r}")
        texts = {"fallback.apology": self.fallback.apology}
        texts.update({f"messages.{key}": getattr(self.messages, key) for key in MESSAGE_KEYS})
        for where, text in texts.items():
            missing = [language for language in self.voices if not text.get(language)]
            if missing:
                raise ValueError(f"{where}: missing text for {', '.join(missing)}")
        return self

    def path(self, relative: str) -> Path:
        """Resolve a configured path against the folder holding config.yaml."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    @property
    def main_number(self) -> str:
        """The number calls and messages to customers come from (the first configured)."""
        return next(iter(self.numbers), "+18005550100")

    @property
    def answered_numbers(self) -> tuple[str, ...]:
        """The account's numbers the center answers: those under `numbers`, else the main one."""
        return tuple(self.numbers) or (self.main_number,)

    @property
    def languages(self) -> list[str]:
        return list(self.voices)


ENVIRONMENT = {
    "CALLCENTER_PUBLIC_URL": "public_url",
    "CALLCENTER_DATABASE_URL": "database_url",
    "CALLCENTER_REDIS_URL": "redis_url",
    "CALLCENTER_SECRET_KEY": "secret_key",
    "CALLCENTER_TWILIO_API_URL": "twilio_api_url",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "TWILIO_API_KEY": "twilio_api_key",
    "TWILIO_API_SECRET": "twilio_api_secret",
    "TWILIO_TWIML_APP_SID": "twilio_twiml_app_sid",
    "CALLCENTER_METRICS_TOKEN": "metrics_token",
}
SECRET_KEYS = (
    "secret_key",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_api_key",
    "twilio_api_secret",
    "metrics_token",
)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file in use: explicit, else $CALLCENTER_CONFIG, else ./config.yaml."""
    return Path(explicit or os.environ.get("CALLCENTER_CONFIG") or DEFAULT_CONFIG_FILE)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Load config.yaml, apply environment variables, then explicit overrides, and validate."""
    file = config_path(path)
    environ = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: config file not found (set CALLCENTER_CONFIG)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: top level must be a mapping")
    for key in SECRET_KEYS:
        if raw.get(key):
            raise ConfigError(f"{file}: {key}: secrets belong in the environment, not the file")
    raw.setdefault("base_dir", str(file.resolve().parent))
    for variable, key in ENVIRONMENT.items():
        if environ.get(variable):
            raw[key] = environ[variable]
    raw.update(overrides or {})
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(file, exc)) from exc
    return _with_local_secrets(settings, environ)


def format_validation_error(file: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{file}: {where}: {error['msg']}")
    return "\n".join(lines)


def _with_local_secrets(settings: Settings, environ: dict[str, str]) -> Settings:
    """Fill in what a developer machine lacks: a session key and simulator credentials."""
    instance = settings.path(settings.instance_dir)
    changes: dict[str, Any] = {}
    if not settings.secret_key:
        changes["secret_key"] = _persistent_secret(instance / "secret_key")
    if bool(settings.twilio_account_sid) != bool(settings.twilio_auth_token):
        raise ConfigError(
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together "
            "(neither: the built-in simulator is used)"
        )
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        changes["simulator"] = True
        changes["twilio_account_sid"] = SIMULATOR_ACCOUNT_SID
        changes["twilio_auth_token"] = _persistent_secret(instance / "simulator_auth_token")
        if not environ.get("CALLCENTER_TWILIO_API_URL"):
            changes["twilio_api_url"] = settings.public_url + "/simulator"
    return settings.model_copy(update=changes) if changes else settings


def _persistent_secret(file: Path) -> str:
    """Read a generated secret, creating it once (O_EXCL: concurrent workers agree)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            existing = file.read_text(encoding="utf-8").strip()
            if existing:
                return existing
            clock.sleep(0.01)
        raise ConfigError(f"{file}: empty secret file; delete it to generate a new one") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def localized(text: LocalizedText | None, language: str, default_language: str) -> str | None:
    """Pick the text for a language from a plain string or a language map."""
    if text is None or isinstance(text, str):
        return text
    return text.get(language) or text.get(default_language) or next(iter(text.values()), None)


def dump_public(settings: Settings) -> str:
    """Settings as JSON with secrets masked (for `callcenter config show`)."""
    data = settings.model_dump(mode="json")
    for key in SECRET_KEYS:
        if data.get(key):
            data[key] = "***"
    return json.dumps(data, indent=2, ensure_ascii=False)
