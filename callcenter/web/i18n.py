"""The languages of the consoles: which one a page speaks, and its catalogs.

A page speaks the agent's `ui_language` when they chose one, else the first language of
the browser's `Accept-Language` that the consoles know (zh, zh-CN, zh-SG, zh-Hans → zh-CN;
en-* → en), else English. Templates and Python translate with Flask-Babel (`_("...")`,
catalogs in `callcenter/translations/<locale>/LC_MESSAGES/messages.po`, compiled when the
app starts); the scripts with `t("...")` (static/common.js) from one JSON catalog per
language, `static/i18n/<language>.json`, which the page carries in a data block. English
strings are the keys: English needs no catalog. See docs/consoles.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import Babel, gettext

from callcenter.db import get_session
from callcenter.messages import Phrase, Refusal
from callcenter.models import UI_LANGUAGES, Agent
from callcenter.people.accounts import clean_ui_language
from callcenter.people.agents import AgentError
from callcenter.web.auth import current_agent, json_error, json_object, login_required

PACKAGE = Path(__file__).resolve().parent.parent
TRANSLATIONS = PACKAGE / "translations"
SCRIPT_CATALOGS = PACKAGE / "static" / "i18n"
DEFAULT_LANGUAGE = "en"
SIMPLIFIED_CHINESE = ("zh", "zh-cn", "zh-sg", "zh-hans", "zh-hans-cn", "zh-hans-sg")


def language_from_header(languages: list[tuple[str, float]]) -> str:
    """The consoles' language for a browser's languages, best first (`Accept-Language`).

    >>> language_from_header([("zh-CN", 1), ("en", 0.8)])
    'zh-CN'
    >>> language_from_header([("fr", 1)])
    'en'
    """
    for tag, quality in languages:
        if quality <= 0:
            continue
        tag = tag.lower().replace("_", "-")
        if tag in SIMPLIFIED_CHINESE:
            return "zh-CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT_LANGUAGE


def choose_language(preference: str | None, languages: list[tuple[str, float]]) -> str:
    """The agent's stored preference when it is a console language, else the browser's."""
    if preference in UI_LANGUAGES:
        return str(preference)
    return language_from_header(languages)


def page_language() -> str:
    """This request's language ("en" or "zh-CN"), chosen once per request."""
    if "page_language" not in g:
        # An API behind login_required has read the agent already: reading it again here,
        # in the middle of the view's transaction, would wait on that transaction's lock
        # (SQLite) when the view translates something.
        agent = g.agent if "agent" in g else current_agent()
        g.page_language = choose_language(
            agent.ui_language if agent is not None else None,
            list(request.accept_languages),
        )
    return str(g.page_language)


def _babel_locale() -> str:
    return page_language().replace("-", "_")


@lru_cache(maxsize=8)
def _script_catalog(language: str, mtime: float) -> dict[str, str]:
    return json.loads((SCRIPT_CATALOGS / f"{language}.json").read_text("utf-8"))


def script_catalog(language: str) -> dict[str, str]:
    """The scripts' strings for `language` (English: none, the keys are the English)."""
    path = SCRIPT_CATALOGS / f"{language}.json"
    if not path.is_file():
        return {}
    return _script_catalog(language, path.stat().st_mtime)


def compile_catalogs(target: Path) -> None:
    """Every `translations/<locale>/LC_MESSAGES/messages.po` compiled into `target`.

    Written to a temporary file and renamed, so processes starting together never read
    a half-written catalog.
    """
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        # Babel looks for the locale's full name (zh_CN is read as zh_Hans_CN).
        folder = target / str(Locale.parse(po.parent.parent.name)) / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog)
        os.replace(temporary, folder / "messages.mo")


def refusal_text(reason: BaseException | str) -> str:
    """Why an action was refused, in this request's (or Socket.IO event's) language.

    A :class:`~callcenter.messages.Refusal` is translated from its template, then its values
    filled in; any other reason is looked up by its English text (unknown: stays English).
    """
    if isinstance(reason, Refusal | Phrase):
        text = gettext(reason.template)
        text = text.format(**reason.values) if reason.values else text
        field = getattr(reason, "field", None)  # AgentError: "field: why", as in English
        return f"{field}: {text}" if field else text
    return gettext(str(reason))


def field_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """`{field: what is wrong}` of a JSON API, each message in this request's language."""
    return {field: refusal_text(message) for field, message in errors.items()}


def role_label(role: str) -> str:
    """An account's role (`agent`, `supervisor`, `admin`) in the page's language."""
    labels = {"agent": gettext("agent"), "supervisor": gettext("supervisor"),
              "admin": gettext("admin")}  # fmt: skip
    return labels.get(role, role)


bp = Blueprint("i18n", __name__)


@bp.post("/api/me/language")
@login_required()
def set_my_language() -> ResponseReturnValue:
    """`{"ui_language": "zh-CN" | "en" | null}`: the agent's own choice (null: the browser's)."""
    body = json_object()
    try:
        language = clean_ui_language(body.get("ui_language"))
    except AgentError as exc:
        return json_error(400, str(exc))
    db_session = get_session()
    agent = db_session.get(Agent, g.agent.id)
    if agent is None:
        return json_error(401, "not logged in")
    agent.ui_language = language
    db_session.commit()
    return jsonify({"ui_language": language})


def init_app(app: Flask) -> None:
    """Flask-Babel on the app, its catalogs compiled, and every page told its language."""
    compiled = Path(app.instance_path) / "translations"
    compile_catalogs(compiled)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled))
    Babel(app, locale_selector=_babel_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def _language() -> dict[str, Any]:
        language = page_language()
        return {
            "page_language": language,
            "script_catalog": script_catalog(language),
            "role_label": role_label,
        }
