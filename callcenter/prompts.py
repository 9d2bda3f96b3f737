"""Which prompts can be rendered ahead of time: every static text, in every language."""

from __future__ import annotations

from callcenter.config import MESSAGE_KEYS, Settings, localized
from callcenter.ivr.loader import FlowSet
from callcenter.ivr.schema import template_fields


def static_prompts(flows: FlowSet, settings: Settings) -> list[tuple[str, str]]:
    """(text, language) pairs without placeholders, from flows and system messages."""
    found: dict[tuple[str, str], None] = {}

    def add(text: object, languages: list[str]) -> None:
        for language in languages:
            chosen = localized(text, language, languages[0])  # type: ignore[arg-type]
            if chosen and not template_fields(chosen):
                found[(chosen, language)] = None

    for flow in flows.flows.values():
        for node in flow.nodes.values():
            for text in node.prompts().values():
                add(text, flow.languages)
    languages = settings.languages
    add(settings.fallback.apology, languages)
    for key in MESSAGE_KEYS:
        add(getattr(settings.messages, key), languages)
    for queue in settings.queues.values():
        add(queue.hold_message, languages)
        add(queue.closed_message, languages)
    return list(found)
