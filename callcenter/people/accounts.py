"""Agent accounts as an admin manages them: the editable fields and their checks against
config.yaml, adding, editing and reactivating (pure domain: takes a session).

The command line (`callcenter agents add|edit|reactivate`) and the admin pages
(`web/admin.py`) both go through here, so an account is checked one way. Each field an
admin may set is one entry of `FIELDS`: its key (as the API and the audit log name it),
the `Agent` attribute it sets and its check. A new field is one more entry there, one
more input in `templates/admin.html` and one more option of `agents edit`.

>>> choices = Choices.from_settings(settings)
>>> agent, changes = edit_agent(session, choices, "li.na", {"skills": "support,vip"})
>>> changes
{'skills': [['support'], ['support', 'vip']]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.messages import N_, Phrase
from callcenter.models import UI_LANGUAGES, Agent
from callcenter.people.agents import (
    AgentError,
    check_call_device,
    check_device,
    check_name,
    check_number,
    check_role,
    create_agent,
    find_agent,
    keep_an_admin,
    number_free,
)
from callcenter.people.customers import normalize_phone


class AgentInvalid(AgentError):
    """Fields were refused: `errors` maps each field to why (the message joins them)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Choices:
    """What config.yaml lets an agent have: the queues' skills and the callers' languages."""

    skills: tuple[str, ...]
    languages: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Choices:
        """The skills some queue asks for and the configured languages (`voices`)."""
        skills = sorted({skill for queue in settings.queues.values() for skill in queue.skills})
        return cls(tuple(skills), tuple(settings.languages))


def _items(value: Any, field: str) -> list[str]:
    """A list from "a,b" (the command line) or ["a", "b"] (JSON)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise AgentError(N_("a list of names"), field=field)


def clean_skills(value: Any, choices: Choices) -> list[str]:
    """Skills some queue uses (any when no queue asks for skills), sorted, no repeats."""
    wanted = _items(value, "skills")
    unknown = [skill for skill in wanted if choices.skills and skill not in choices.skills]
    if unknown:
        raise AgentError(
            N_("{unknown} not used by any queue (known: {known})"),
            field="skills",
            unknown=", ".join(unknown),
            known=", ".join(choices.skills),
        )
    return sorted(set(wanted))


def clean_languages(value: Any, choices: Choices) -> list[str]:
    """Configured languages, in their configured spelling (zh-cn → zh-CN), sorted."""
    configured = {language.lower(): language for language in choices.languages}
    found = []
    for language in _items(value, "languages"):
        if language.lower() not in configured:
            raise AgentError(
                N_("{language} is not configured ({known})"),
                field="languages",
                language=repr(language),
                known=", ".join(choices.languages),
            )
        found.append(configured[language.lower()])
    return sorted(set(found))


def clean_phone(value: Any, choices: Choices | None = None) -> str | None:
    """The agent's own phone in E.164, or None for no phone (empty or null)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise AgentError(N_("a phone number"), field="phone")
    try:
        return normalize_phone(value)
    except ValueError as exc:
        reason = exc.args[0] if exc.args else str(exc)
        if isinstance(reason, Phrase):
            raise AgentError(reason.template, field="phone", **reason.values) from exc
        raise AgentError(f"phone: {exc}") from exc


def clean_device(value: Any, choices: Choices | None = None) -> str:
    """Where the bridge rings the agent: "browser" (the console's softphone) or "phone"."""
    return check_device(value)


def clean_flag(value: Any, choices: Choices | None = None) -> bool:
    """A yes/no field: a JSON boolean (or the command line's true/false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise AgentError(N_("true or false"), field="auto_answer")


def clean_ui_language(value: Any, choices: Choices | None = None) -> str | None:
    """The consoles' language (en, zh-CN), or None to follow the browser (empty or null)."""
    if value is None or value == "":
        return None
    wanted = {language.lower(): language for language in UI_LANGUAGES}
    if not isinstance(value, str) or value.lower() not in wanted:
        raise AgentError(
            N_("one of {choices}, or empty for the browser's"),
            field="ui_language",
            choices=", ".join(UI_LANGUAGES),
        )
    return wanted[value.lower()]


def _text(check: Callable[[str], str], field: str) -> Callable[[Any, Choices], str]:
    def clean(value: Any, choices: Choices) -> str:
        if not isinstance(value, str):
            raise AgentError(N_("a string"), field=field)
        return check(value)

    return clean


@dataclass(frozen=True)
class Field:
    """One field an admin sets: the `Agent` attribute and its check."""

    attribute: str
    clean: Callable[[Any, Choices], Any]


FIELDS: dict[str, Field] = {
    "name": Field("display_name", _text(check_name, "name")),
    "number": Field("agent_number", _text(check_number, "number")),
    "role": Field("role", _text(check_role, "role")),
    "skills": Field("skills", clean_skills),
    "languages": Field("languages", clean_languages),
    "phone": Field("phone", clean_phone),
    "takes_calls_on": Field("takes_calls_on", clean_device),
    "auto_answer": Field("auto_answer", clean_flag),
    "ui_language": Field("ui_language", clean_ui_language),
}


def field_message(exc: AgentError, key: str) -> str:
    """What `exc` says of the field `key`, without the field's name (kept translatable)."""
    if exc.field == key:
        return Phrase(exc.template, **exc.values)
    return str(exc).removeprefix(f"{key}: ")


def clean_fields(values: Mapping[str, Any], choices: Choices) -> dict[str, Any]:
    """Every given field checked; AgentInvalid names each refused (or unknown) field."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        field = FIELDS.get(key)
        if field is None:
            errors[key] = Phrase(N_("not a field (fields: {fields})"), fields=", ".join(FIELDS))
            continue
        try:
            cleaned[key] = field.clean(value, choices)
        except AgentError as exc:
            errors[key] = field_message(exc, key)
    if errors:
        raise AgentInvalid(errors)
    return cleaned


def describe(agent: Agent) -> dict[str, Any]:
    """An account as admins see it (never the password or its hash)."""
    return {
        **agent.public(),
        "phone": agent.phone,
        "takes_calls_on": agent.takes_calls_on,
        "auto_answer": bool(agent.auto_answer),
        "ui_language": agent.ui_language,
        "active": agent.active,
    }


def add_agent(
    session: Session, choices: Choices, username: str, values: Mapping[str, Any], password: str
) -> tuple[Agent, dict[str, list[Any]]]:
    """A new account from `values` (name and number required); its fields as changes."""
    missing = {key: N_("required") for key in ("name", "number") if not values.get(key)}
    if missing:
        raise AgentInvalid(missing)
    fields = {"role": "agent", **clean_fields(values, choices)}
    agent = create_agent(
        session,
        username=username if isinstance(username, str) else "",
        display_name=fields["name"],
        agent_number=fields["number"],
        password=password,
        role=fields["role"],
        skills=fields.get("skills", ()),
        languages=fields.get("languages", ()),
        phone=fields.get("phone"),
        takes_calls_on=fields.get("takes_calls_on"),
        auto_answer=fields.get("auto_answer", False),
    )
    agent.ui_language = fields.get("ui_language")
    created = describe(agent)
    return agent, {key: [None, created[key]] for key in ("username", *FIELDS)}


def edit_agent(
    session: Session, choices: Choices, username: str, values: Mapping[str, Any]
) -> tuple[Agent, dict[str, list[Any]]]:
    """Change the given fields; the changes as `{field: [old, new]}` (unchanged ones left
    out). The last active admin keeps the admin role."""
    agent = find_agent(session, username)
    fields = clean_fields(values, choices)
    if "number" in fields:
        number_free(session, fields["number"], but=agent.id)
    if fields.get("role", "admin") != "admin":
        keep_an_admin(session, agent)
    if "takes_calls_on" in fields or "phone" in fields:
        try:  # calls never go to a phone the agent no longer has
            check_call_device(
                fields.get("takes_calls_on", agent.takes_calls_on),
                fields.get("phone", agent.phone),
            )
        except AgentError as exc:
            why = field_message(exc, "takes_calls_on")
            raise AgentInvalid({"takes_calls_on": why}) from exc
    changes: dict[str, list[Any]] = {}
    for key, new in fields.items():
        attribute = FIELDS[key].attribute
        old = getattr(agent, attribute)
        old = list(old) if isinstance(old, list) else old
        if old != new:
            setattr(agent, attribute, new)
            changes[key] = [old, new]
    session.flush()
    return agent, changes


def reactivate_agent(session: Session, username: str) -> Agent:
    """Put a deactivated account back in service (offline until they log in)."""
    agent = find_agent(session, username)
    if agent.active:
        raise AgentError(f"{agent.username} is already active")
    agent.active = True
    session.flush()
    return agent
