"""Which prompts can be rendered ahead of time: every static text, in every language."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.config import MESSAGE_KEYS, Settings, localized
from callcenter.ivr.loader import FlowSet
from callcenter.ivr.schema import KnowledgeNode, template_fields


def static_prompts(
    flows: FlowSet, settings: Settings, summaries: Mapping[str, tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """(text, language) pairs without placeholders, from flows and system messages.

    `summaries` maps article ids to (summary, language): the summaries `knowledge`
    nodes read out are rendered too.
    """
    found: dict[tuple[str, str], None] = {}
    summaries = summaries or {}

    def add(text: object, languages: list[str]) -> None:
        for language in languages:
            chosen = localized(text, language, languages[0])  # type: ignore[arg-type]
            if chosen and not template_fields(chosen):
                found[(chosen, language)] = None

    for flow in flows.flows.values():
        for node in flow.nodes.values():
            for text in node.prompts().values():
                add(text, flow.languages)
            if isinstance(node, KnowledgeNode):
                for article_id in node.article_ids():
                    if article_id in summaries:
                        found[summaries[article_id]] = None
    languages = settings.languages
    add(settings.fallback.apology, languages)
    for key in MESSAGE_KEYS:
        add(getattr(settings.messages, key), languages)
    one_minute = settings.messages.estimated_wait_one
    add(one_minute, [language for language in languages if language in one_minute])
    for queue in settings.queues.values():
        add(queue.hold_message, languages)
        add(queue.closed_message, languages)
    return list(found)
