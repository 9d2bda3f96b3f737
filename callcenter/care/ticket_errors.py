"""What ticket functions raise: fields refused (:class:`TicketInvalid`), an action refused
(:class:`TicketError`, with the HTTP status the API answers)."""

from __future__ import annotations

from collections.abc import Mapping


class TicketInvalid(Exception):
    """Fields that cannot be accepted: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = dict(errors)


class TicketError(Exception):
    """A ticket action refused: ``status`` is 403 (not allowed), 404 (none) or 409."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status
