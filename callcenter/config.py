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
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_FILE = "config.yaml"
SIMULATOR_ACCOUNT_SID = "AC" + "5" * 32

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_RANGE_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

LocalizedText = str | dict[str, str]


class ConfigError(Exception):
    """Settings could not be loaded; the message names the file and the key."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursConfig(StrictModel):
    """Opening hours: weekly ranges in a time zone, minus holidays."""

    timezone: str = "UTC"
    weekly: dict[str, list[str]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("weekly")
    @classmethod
    def _valid_ranges(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
            for text in ranges:
                parse_range(text)
        return value

    def ranges_for(self, weekday: int) -> list[tuple[time, time]]:
        """Opening ranges for a weekday (0 = Monday)."""
        return [parse_range(text) for text in self.weekly.get(WEEKDAYS[weekday], [])]


def parse_range(text: str) -> tuple[time, time]:
    """Parse ``"09:00-18:00"``; raise ValueError with the offending text."""
    match = _RANGE_RE.match(text.strip())
    if not match:
        raise ValueError(f"bad time range {text!r} (expected HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"bad time range {text!r}")
    start = time(h1, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"bad time range {text!r}: end is not after start")
    return start, end


class QueueConfig(StrictModel):
    """A named queue callers wait in."""

    display_name: str
    hours: str | None = None
    max_size: int = Field(default=200, ge=1, le=1000)
    max_wait: int = Field(default=600, ge=10, description="seconds before overflow")
    overflow_mailbox: str | None = None
    overflow_queue: str | None = None
    hold_message: LocalizedText | None = None
    hold_music: str | None = None
    closed_message: LocalizedText | None = None
    skills: list[str] = Field(default_factory=list)
    strategy: Literal["longest-idle", "ring-all", "round-robin"] = "longest-idle"
    wrapup_seconds: int = Field(default=30, ge=0, le=3600)
    offer_timeout: int = Field(default=15, ge=5, le=120)
    preferred_agent_seconds: int = Field(default=20, ge=0, le=600)
    record: bool = True
    recording_channels: Literal["dual", "mono"] = "dual"
    callback: bool = True
    service_level_target: float = Field(
        default=0.8, gt=0, lt=1, description="share of callers to answer within metrics T"
    )
    missed_call_sms: bool = Field(
        default=False, description="text a caller who abandons (messages.missed_call) at once"
    )
    survey: bool = Field(
        default=False, description="callers whose agent hangs up first hear the post-call survey"
    )


class MailboxConfig(StrictModel):
    """A voicemail box."""

    display_name: str
    max_length: int = Field(default=120, ge=5, le=3600)


class VoiceConfig(StrictModel):
    """How a language is spoken: Twilio <Say> voice and language, gTTS language and domain."""

    say_voice: str
    say_language: str
    speech_language: str | None = None
    gtts_lang: str
    gtts_tld: str = "com"

    @property
    def recognition_language(self) -> str:
        """Language for speech recognition in <Gather> (defaults to the <Say> language)."""
        return self.speech_language or self.say_language


class TTSConfig(StrictModel):
    enabled: bool = True
    cache_dir: str = "instance/tts"


class DownloadConfig(StrictModel):
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_seconds: float = Field(default=30.0, ge=0)
    max_backoff_seconds: float = Field(default=3600.0, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=5.0, gt=0)
    delete_remote: bool = Field(
        default=False, description="delete Twilio's copy once ours is verified"
    )


class RetentionConfig(StrictModel):
    """How long stored audio is kept (days); ``None`` keeps it for ever."""

    call_recordings_days: int | None = Field(default=365, ge=1)
    voicemail_days: int | None = Field(default=90, ge=1)


class MetricsConfig(StrictModel):
    """Thresholds of the call-center metrics (see docs/metrics.md)."""

    service_level_seconds: int = Field(
        default=20, ge=1, le=3600, description="T: answered within T seconds is in service level"
    )
    short_abandon_seconds: int = Field(
        default=5, ge=0, le=600, description="abandoned within this wait: a short abandon"
    )
    fcr_days: int = Field(
        default=7, ge=1, le=90, description="N: no repeat call within N days is a first-call fix"
    )


class WallboardConfig(StrictModel):
    """The wallboard's default alert thresholds per queue (a supervisor may change a
    queue's from the page; see docs/configuration.md#wallboard)."""

    oldest_wait_seconds: int = Field(
        default=60, ge=1, le=86400, description="a caller waiting longer turns the queue red"
    )
    service_level: float = Field(
        default=0.8, ge=0, le=1, description="today's service level below this turns it red"
    )


class SupervisionConfig(StrictModel):
    """Supervisors stepping into calls (see docs/agent-protocol.md)."""

    announce_monitor: bool = Field(
        default=False, description="whether an agent is shown that a supervisor listens in"
    )


class SurveyConfig(StrictModel):
    """The post-call survey (docs/flows.md#post-call-survey), for queues with `survey`."""

    second_question: bool = Field(
        default=True, description="also ask whether the problem was solved (1 yes, 2 no)"
    )
    timeout: int = Field(default=6, ge=2, le=30, description="seconds to wait for an answer")
    retries: int = Field(default=1, ge=0, le=3, description="questions asked again on no answer")


class OutboundConfig(StrictModel):
    """Calls agents place (docs/configuration.md#outbound): the countries they may call,
    by calling code, and number prefixes never dialed (premium rates), E.164 with `+`."""

    allowed_country_codes: list[str] = Field(default_factory=list)
    blocked_prefixes: list[str] = Field(default_factory=list)

    @field_validator("allowed_country_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[1-9][0-9]{0,2}", code):
                raise ValueError(f"{code!r}: a country calling code is 1 to 3 digits, no +")
        return value

    @field_validator("blocked_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not re.fullmatch(r"\+[0-9]{1,14}", prefix):
                raise ValueError(f"{prefix!r}: a blocked prefix is + and digits")
        return value


class TicketKindConfig(StrictModel):
    """A kind of a ticket category (complaints: rational, venting, compensation-seeking)."""

    label: str
    hours: float = Field(gt=0, le=24 * 365, description="promised deadline, in hours")


class TicketCategoryConfig(StrictModel):
    """A ticket category: its label and promised deadline; with `kinds`, a kind is required
    and its own deadline applies."""

    label: str
    hours: float = Field(gt=0, le=24 * 365, description="promised deadline, in hours")
    kinds: dict[str, TicketKindConfig] = Field(default_factory=dict)


def _default_categories() -> dict[str, TicketCategoryConfig]:
    return {
        "repair": TicketCategoryConfig(label="Repair", hours=72),
        "complaint": TicketCategoryConfig(
            label="Complaint",
            hours=24,
            kinds={
                "rational": TicketKindConfig(label="Rational", hours=24),
                "venting": TicketKindConfig(label="Venting", hours=24),
                "compensation": TicketKindConfig(label="Compensation-seeking", hours=48),
            },
        ),
        "followup": TicketCategoryConfig(label="Follow-up", hours=24),
    }


class TicketsConfig(StrictModel):
    """Tickets (docs/care.md): categories with deadlines, priorities, reminders."""

    categories: dict[str, TicketCategoryConfig] = Field(default_factory=_default_categories)
    priorities: dict[str, str] = Field(
        default_factory=lambda: {
            "low": "Low",
            "normal": "Normal",
            "high": "High",
            "urgent": "Urgent",
        }
    )
    default_priority: str = "normal"
    due_soon_hours: float = Field(
        default=2, ge=0, le=240, description="the owner is told this long before the deadline"
    )
    survey_category: str = Field(
        default="followup", description="category of the ticket a low survey score opens"
    )
    survey_priority: str = "high"

    @model_validator(mode="after")
    def _known_names(self) -> TicketsConfig:
        for name in [*self.categories, *(k for c in self.categories.values() for k in c.kinds),
                     *self.priorities]:  # fmt: skip
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r}: names are lowercase letters, digits and _")
        for where, name in (("default_priority", self.default_priority),
                            ("survey_priority", self.survey_priority)):  # fmt: skip
            if name not in self.priorities:
                raise ValueError(f"{where}: no priority named {name!r}")
        if self.survey_category not in self.categories:
            raise ValueError(f"survey_category: no category named {self.survey_category!r}")
        if self.categories[self.survey_category].kinds:
            raise ValueError("survey_category: must be a category without kinds")
        return self


class FollowupsConfig(StrictModel):
    """Follow-ups of callers we missed (docs/care.md)."""

    voicemail_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60,
        description="a voicemail still unhandled this long after it was left becomes a follow-up",
    )  # fmt: skip
    cut_off: bool = Field(
        default=True, description="callers cut off after an agent took them get a follow-up"
    )
    outcomes: dict[str, str] = Field(
        default_factory=lambda: {
            "reached": "Reached, resolved",
            "reached_ticket": "Reached, ticket opened",
            "no_answer": "No answer",
            "voicemail_left": "Left a message",
            "wrong_number": "Wrong number",
            "not_needed": "No call needed",
        }
    )


class FallbackConfig(StrictModel):
    """What a caller hears when something inside the application fails."""

    apology: dict[str, str]
    mailbox: str


MESSAGE_KEYS = (
    "queue_position",
    "queue_overflow",
    "voicemail_saved",
    "voicemail_empty",
    "agent_announcement",
    "transfer_hold",
    "estimated_wait",
    "callback_offer",
    "callback_confirmed",
    "knowledge_offer",
    "missed_call",
    "survey_rate",
    "survey_resolved",
    "survey_invalid",
    "survey_thanks",
)


class MessagesConfig(StrictModel):
    """System prompts, per language. `queue_position` may use {position},
    `agent_announcement` {number} (the agent's number, read digit by digit),
    `article_sms` (the text message with an article's link) {title} and {link};
    `missed_call` is texted to a caller who abandoned a queue with `missed_call_sms`;
    `survey_*` are the post-call survey's questions, its "sorry" and its thank-you."""

    queue_position: dict[str, str]
    queue_overflow: dict[str, str]
    voicemail_saved: dict[str, str]
    voicemail_empty: dict[str, str]
    agent_announcement: dict[str, str]
    transfer_hold: dict[str, str]
    estimated_wait: dict[str, str]
    # Said instead of `estimated_wait` when the estimate is one minute, in the languages it
    # names (a language with no plural form needs none).
    estimated_wait_one: dict[str, str] = Field(
        default_factory=lambda: {"en": "The estimated wait is about one minute."}
    )
    callback_offer: dict[str, str]
    callback_confirmed: dict[str, str]
    article_sms: dict[str, str] = Field(default_factory=lambda: {"en": "{title}: {link}"})
    knowledge_offer: dict[str, str] = Field(
        default_factory=lambda: {"en": "To talk to an agent, press 1.", "zh-CN": "人工服务请按1。"}
    )
    missed_call: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Sorry we missed you. We will call you back.",
            "zh-CN": "抱歉未能及时接听您的来电，我们会尽快给您回电。",
        }
    )
    survey_rate: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Please rate this call from 1 to 5, 5 being the best.",
            "zh-CN": "请为本次通话评分，1到5分，5分为最满意。",
        }
    )
    survey_resolved: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Was your problem solved? Press 1 for yes, 2 for no.",
            "zh-CN": "您的问题解决了吗？已解决请按1，未解决请按2。",
        }
    )
    survey_invalid: dict[str, str] = Field(
        default_factory=lambda: {"en": "Sorry, we did not get that.", "zh-CN": "抱歉，没有听清。"}
    )
    survey_thanks: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Thank you for your feedback. Goodbye.",
            "zh-CN": "感谢您的反馈，再见。",
        }
    )


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
