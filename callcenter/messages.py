"""Sentences the domain says to people, kept translatable.

The domain speaks English and never imports Flask: it marks each sentence with :func:`N_`
(`pybabel extract` finds it, see babel.cfg) and the web layer translates it where it is sent,
in the reader's language (callcenter/web/i18n.py). A refusal that names values carries
its template and the values apart, so the catalogs hold the template::

    raise RoutingError(N_("{name} is not available"), name=agent.name)

`str(exc)` is still the English sentence, values filled in (logs, audit, command line).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks `message` for the catalogs; the text stays the English message id here, and is
    translated where it is sent (callcenter/web)."""
    return message


class Refusal(Exception):
    """An action refused, saying why: an English template (marked with N_) and its values."""

    def __init__(self, message: str = "", **values: object) -> None:
        self.template = message
        self.values = values
        super().__init__(message.format(**values) if values else message)


class Phrase(str):
    """A sentence with named values that is also its English text: ``Phrase(N_("must be at
    most {limit} characters"), limit=80)`` equals "must be at most 80 characters" (field
    errors stay plain strings for the API, the command line and the tests), and keeps its
    template and values so the web layer can translate it."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Phrase:
        phrase = super().__new__(cls, template.format(**values) if values else template)
        phrase.template = template
        phrase.values = values
        return phrase
