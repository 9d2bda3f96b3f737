"""Pydantic schema of a flow file (`ivr_flows/*.yaml`). See docs/flows.md."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LocalizedText = str | dict[str, str]
NODE_NAME = r"^[a-z][a-z0-9_]{0,63}$"
DTMF_KEYS = set("0123456789*#")
TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")
TEMPLATE_NAMES = {"name", "tier", "account", "caller", "language"}
TEMPLATE_VAR = re.compile(r"^var\.[a-z][a-z0-9_]{0,39}$")
ARTICLE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeBase(Strict):
    description: str | None = None

    def targets(self) -> dict[str, str]:
        """Field name → node name this node can continue to (within its flow)."""
        return {}

    def prompts(self) -> dict[str, LocalizedText]:
        """Field name → spoken text the node may say."""
        return {}

    @property
    def waits_for_input(self) -> bool:
        return False


class Prompting(NodeBase):
    """Nodes that gather input: retries and re-prompts."""

    prompt: LocalizedText
    timeout: int = Field(default=5, ge=1, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    invalid: LocalizedText | None = None
    no_input: LocalizedText | None = None

    def prompts(self) -> dict[str, LocalizedText]:
        found = {"prompt": self.prompt}
        if self.invalid is not None:
            found["invalid"] = self.invalid
        if self.no_input is not None:
            found["no_input"] = self.no_input
        return found

    @property
    def waits_for_input(self) -> bool:
        return True


class MessageNode(NodeBase):
    """Say a prompt (or play audio), then continue."""

    kind: Literal["message"]
    say: LocalizedText | None = None
    play: str | None = None
    pause: int = Field(default=0, ge=0, le=30)
    next: str

    @model_validator(mode="after")
    def _something_to_say(self) -> MessageNode:
        if self.say is None and self.play is None and not self.pause:
            raise ValueError("a message needs say, play or pause")
        return self

    def targets(self) -> dict[str, str]:
        return {"next": self.next}

    def prompts(self) -> dict[str, LocalizedText]:
        return {"say": self.say} if self.say is not None else {}


class MenuOption(Strict):
    goto: str
    keywords: list[str] | dict[str, list[str]] = Field(default_factory=list)


class MenuNode(Prompting):
    """Offer choices by key press or by speech."""

    kind: Literal["menu"]
    options: dict[str, MenuOption]
    input: list[Literal["dtmf", "speech"]] = Field(default_factory=lambda: ["dtmf"], min_length=1)
    fallback: str

    @field_validator("options", mode="before")
    @classmethod
    def _keys_are_digits(cls, value: object) -> object:
        if isinstance(value, dict):
            keys: dict[str, object] = {}
            for key, option in value.items():
                if str(key) not in DTMF_KEYS:
                    raise ValueError(f"option {key!r} is not a single key (0-9, * or #)")
                if str(key) in keys:
                    raise ValueError(f"option {str(key)!r} is given twice")
                keys[str(key)] = option
            return keys
        return value

    @field_validator("options")
    @classmethod
    def _not_empty(cls, value: dict[str, MenuOption]) -> dict[str, MenuOption]:
        if not value:
            raise ValueError("a menu needs at least one option")
        return value

    def targets(self) -> dict[str, str]:
        found = {f"options.{key}.goto": option.goto for key, option in self.options.items()}
        found["fallback"] = self.fallback
        return found


class DigitsRule(Strict):
    min: int = Field(default=1, ge=1, le=40)
    max: int = Field(default=20, ge=1, le=40)

    @model_validator(mode="after")
    def _ordered(self) -> DigitsRule:
        if self.max < self.min:
            raise ValueError("max is smaller than min")
        return self


class InputNode(Prompting):
    """Collect digits (an order number, an account code) into a context variable."""

    kind: Literal["input"]
    save_as: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    digits: DigitsRule = DigitsRule()
    finish_on_key: Literal["#", "*", ""] = "#"
    pattern: str | None = None
    next: str
    fallback: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from exc
        return value

    def targets(self) -> dict[str, str]:
        return {"next": self.next, "fallback": self.fallback}


class LookupNode(NodeBase):
    """Identify the caller by their number or by an account code they entered."""

    kind: Literal["lookup"]
    by: Literal["caller_number", "account_code"] = "caller_number"
    account_var: str | None = None
    found: str
    not_found: str

    @model_validator(mode="after")
    def _account_var(self) -> LookupNode:
        if self.by == "account_code" and not self.account_var:
            raise ValueError("lookup by account_code needs account_var (the input's save_as)")
        if self.by == "caller_number" and self.account_var:
            raise ValueError("account_var only applies to lookup by account_code")
        return self

    def targets(self) -> dict[str, str]:
        return {"found": self.found, "not_found": self.not_found}


class Condition(Strict):
    """Exactly one test; see docs/flows.md."""

    open: str | None = None
    closed: str | None = None
    holiday: str | None = None
    tier: Literal["vip", "normal", "potential"] | None = None
    language: str | None = None
    known_caller: bool | None = None
    var: str | None = None
    equals: str | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        tests = [
            name
            for name in ("open", "closed", "holiday", "tier", "language", "known_caller", "var")
            if getattr(self, name) is not None
        ]
        if len(tests) != 1:
            raise ValueError(
                "a condition needs exactly one of open, closed, holiday, tier, language, "
                f"known_caller, var (got {', '.join(tests) or 'none'})"
            )
        if self.var is None and (self.equals is not None or self.present is not None):
            raise ValueError("equals and present only go with var")
        if self.var is not None and (self.equals is None) == (self.present is None):
            raise ValueError("var needs exactly one of equals or present")
        return self


class BranchRule(Strict):
    when: Condition
    goto: str


class BranchNode(NodeBase):
    """Go to the first rule whose condition holds, else to otherwise."""

    kind: Literal["branch"]
    rules: list[BranchRule] = Field(min_length=1)
    otherwise: str

    def targets(self) -> dict[str, str]:
        found = {f"rules.{index}.goto": rule.goto for index, rule in enumerate(self.rules)}
        found["otherwise"] = self.otherwise
        return found


class QueueNode(NodeBase):
    """Enter a named queue; VIP callers are placed ahead of others."""

    kind: Literal["queue"]
    queue: str
    priority: int = Field(default=0, ge=0, le=100)
    vip_priority: int = Field(default=50, ge=0, le=100)
    say: LocalizedText | None = None

    def prompts(self) -> dict[str, LocalizedText]:
        return {"say": self.say} if self.say is not None else {}


class VoicemailNode(NodeBase):
    """Record a message into a mailbox."""

    kind: Literal["voicemail"]
    mailbox: str
    say: LocalizedText
    max_length: int | None = Field(default=None, ge=5, le=3600)
    goodbye: LocalizedText | None = None

    def prompts(self) -> dict[str, LocalizedText]:
        found = {"say": self.say}
        if self.goodbye is not None:
            found["goodbye"] = self.goodbye
        return found


class TransferNode(NodeBase):
    """Dial an external number; continue at on_fail if nobody answers."""

    kind: Literal["transfer"]
    number: Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]
    timeout: int = Field(default=20, ge=5, le=120)
    say: LocalizedText | None = None
    on_fail: str

    def targets(self) -> dict[str, str]:
        return {"on_fail": self.on_fail}

    def prompts(self) -> dict[str, LocalizedText]:
        return {"say": self.say} if self.say is not None else {}


class LanguageNode(Prompting):
    """Let the caller pick a language; skipped when their preference is known."""

    kind: Literal["language"]
    options: dict[str, str]
    skip_if_known: bool = True
    next: str

    @field_validator("options", mode="before")
    @classmethod
    def _keys_are_digits(cls, value: object) -> object:
        return MenuNode._keys_are_digits(value)

    def targets(self) -> dict[str, str]:
        return {"next": self.next}

    @property
    def waits_for_input(self) -> bool:
        # Skipped for callers whose language is known, so a loop through it could spin.
        return not self.skip_if_known


class HangupNode(NodeBase):
    """Say goodbye and end the call."""

    kind: Literal["hangup"]
    say: LocalizedText | None = None

    def prompts(self) -> dict[str, LocalizedText]:
        return {"say": self.say} if self.say is not None else {}


class KnowledgeNode(NodeBase):
    """Self-service: speak an article's summary, then offer an agent ("press 1")."""

    kind: Literal["knowledge"]
    article: str | dict[str, str]
    say: LocalizedText | None = None
    agent: str
    next: str
    timeout: int = Field(default=5, ge=1, le=60)

    @field_validator("article")
    @classmethod
    def _article_ids(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        for article_id in [value] if isinstance(value, str) else value.values():
            if not ARTICLE_ID.fullmatch(article_id):
                raise ValueError(
                    f"{article_id!r} is not an article id (lowercase letters, digits and -)"
                )
        return value

    def targets(self) -> dict[str, str]:
        return {"agent": self.agent, "next": self.next}

    def prompts(self) -> dict[str, LocalizedText]:
        return {"say": self.say} if self.say is not None else {}

    @property
    def waits_for_input(self) -> bool:
        return True

    def article_for(self, language: str, default_language: str) -> str | None:
        """The article id to read to a caller speaking `language`."""
        if isinstance(self.article, str):
            return self.article
        return self.article.get(language) or self.article.get(default_language)

    def article_ids(self) -> list[str]:
        return [self.article] if isinstance(self.article, str) else list(self.article.values())


class GotoNode(NodeBase):
    """Continue in another flow."""

    kind: Literal["goto"]
    flow: str
    node: str | None = None


Node = Annotated[
    MessageNode
    | MenuNode
    | InputNode
    | LookupNode
    | BranchNode
    | QueueNode
    | VoicemailNode
    | TransferNode
    | LanguageNode
    | HangupNode
    | KnowledgeNode
    | GotoNode,
    Field(discriminator="kind"),
]
NODE_KINDS = (
    "message", "menu", "input", "lookup", "branch", "queue",
    "voicemail", "transfer", "language", "hangup", "knowledge", "goto",
)  # fmt: skip


class Flow(Strict):
    """One flow file."""

    flow: Annotated[str, Field(pattern=NODE_NAME)]
    description: str | None = None
    languages: list[str] = Field(min_length=1)
    start: str
    hours: str | None = None
    closed: str | None = None
    nodes: dict[Annotated[str, Field(pattern=NODE_NAME)], Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _hours_need_a_closed_node(self) -> Flow:
        if (self.hours is None) != (self.closed is None):
            raise ValueError("hours and closed go together: where do callers go when closed?")
        return self


def template_fields(text: str) -> list[str]:
    """The `{field}` names a prompt uses."""
    return TEMPLATE_FIELD.findall(text)


def is_template_field(name: str) -> bool:
    return name in TEMPLATE_NAMES or bool(TEMPLATE_VAR.fullmatch(name))
