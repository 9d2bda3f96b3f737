"""The sections of `config.yaml`, each a strict pydantic model (unknown keys are errors).

:class:`callcenter.config.Settings` puts them together and checks the references between
them; :mod:`callcenter.config` loads the file and is where other code imports them from.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_RANGE_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

LocalizedText = str | dict[str, str]


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
    erasure_max_attempts: int = Field(
        default=80, ge=1, le=1000,
        description="attempts before an erased person's recording's deletion at Twilio gives up",
    )  # fmt: skip
    erasure_max_backoff_seconds: float = Field(
        default=3600.0, ge=0, description="longest wait between two tries of such a deletion"
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
