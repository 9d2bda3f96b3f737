"""What the caller hears and says, as text: a prompt's placeholders filled in (and which
voice can say each value), digits in what a caller said, and the words that ask for a person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from callcenter.ivr.schema import TEMPLATE_FIELD
from callcenter.models import Call

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def voice_for(value: str, language: str, languages: Sequence[str]) -> str | None:
    """The language whose voice says a placeholder value in a `language` prompt.

    An English voice cannot read Chinese characters (it skips or spells them): a value
    with any is said by the flow's Chinese voice, or left out when the flow has none.
    Chinese voices read Latin names, so other values stay in the prompt's voice.
    """
    if not CJK.search(value) or language.startswith(("zh", "ja", "ko")):
        return language
    return next((other for other in languages if other.startswith("zh")), None)


def render_segments(text: str, call: Call) -> list[tuple[str, bool]]:
    """The text cut at its placeholders: (literal text, False) and (filled value, True)."""
    customer = call.customer
    values = {
        "name": customer.name if customer else "",
        "tier": customer.tier if customer else "",
        "account": " ".join(customer.account_code or "") if customer else "",
        "caller": " ".join(call.caller_number or ""),
        "language": call.language,
    }
    variables = (call.context or {}).get("vars", {})

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("var."):
            return " ".join(str(variables.get(name[4:], "")))
        return str(values.get(name, ""))[:80]

    segments: list[tuple[str, bool]] = []
    end = 0
    for match in TEMPLATE_FIELD.finditer(text):
        segments += [(text[end : match.start()], False), (substitute(match), True)]
        end = match.end()
    segments.append((text[end:], False))
    return segments


_SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip


AGENT_WORDS = ("agent", "person", "human", "representative", "operator", "人工", "客服")


def digits_from_speech(speech: str) -> str:
    """Turn "one two three" or "一二三" or "1 2 3" into "123"."""
    digits = []
    for token in re.findall(r"\d|[a-z]+|[^\sa-z\d]", speech.casefold()):
        if token.isdigit():
            digits.append(token)
        elif token in _SPOKEN_DIGITS:
            digits.append(_SPOKEN_DIGITS[token])
    return "".join(digits)
