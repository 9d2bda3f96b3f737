"""Customers: caller-ID classification, phone/account look-ups and the CSV import.

Pure domain code (no Flask, no Twilio): every function that touches the database takes a
SQLAlchemy ``Session`` and never commits; the caller owns the transaction.

>>> classify_caller("+8613800138000")
CallerId(kind='pstn', number='+8613800138000', raw='+8613800138000')
>>> classify_caller("Anonymous").kind
'anonymous'
>>> normalize_account_code(" acme-1001 ")
'ACME-1001'
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

import phonenumbers
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from callcenter.messages import N_, Phrase
from callcenter.models import TIERS, Customer, CustomerPhone

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_LANGUAGES",
    "CallerId",
    "CustomerImportError",
    "ImportReport",
    "classify_caller",
    "find_customer_by_account",
    "find_customer_by_number",
    "import_customers_csv",
    "normalize_account_code",
    "normalize_phone",
]

CSV_COLUMNS = ("name", "phone", "tier", "language", "account", "notes")
DEFAULT_LANGUAGES = ("en", "zh-CN")

# Words Twilio (and carriers) put in ``From`` when the caller withheld their number.
_ANONYMOUS_WORDS = frozenset(
    {"", "anonymous", "restricted", "unknown", "private", "unavailable", "blocked", "withheld"}
)
# Twilio's "spelled on a keypad" markers: ANONYMOUS, RESTRICTED, UNKNOWN, BLOCKED, UNAVAILABLE.
_ANONYMOUS_DIGITS = frozenset({"266696687", "7378742833", "8656696", "2562533", "86282452253"})

_ACCOUNT_RE = re.compile(r"[A-Z0-9-]{2,40}")
_PHONE_SPLIT_RE = re.compile(r"[;|]")
_WHITESPACE_RE = re.compile(r"\s+")
_NAME_MAX = 200
_IN_CHUNK = 500  # keep IN (...) lists well under SQLite's bound-parameter limit


# --------------------------------------------------------------------------- caller ID


@dataclass(frozen=True)
class CallerId:
    """Who is calling, as far as the ``From`` value tells.

    ``kind`` is ``"pstn"``, ``"anonymous"``, ``"sip"`` or ``"client"``; ``number`` is the
    E.164 number for a valid PSTN caller and ``None`` otherwise; ``raw`` is ``From`` as sent.
    """

    kind: str
    number: str | None
    raw: str

    @property
    def is_known_number(self) -> bool:
        return self.kind == "pstn" and self.number is not None


def classify_caller(raw: str, default_region: str | None = None) -> CallerId:
    """Classify a Twilio ``From`` value.

    ``default_region`` (e.g. ``"CN"``) is used for numbers sent without a ``+`` prefix.
    A PSTN value that cannot be parsed or is not a valid number gives ``number=None``.
    """
    raw = "" if raw is None else str(raw)
    value = raw.strip()
    lowered = value.lower()
    if lowered in _ANONYMOUS_WORDS:
        return CallerId("anonymous", None, raw)
    if lowered.startswith("client:"):
        return CallerId("client", None, raw)
    if lowered.startswith(("sip:", "sips:")):
        return CallerId("sip", None, raw)
    if lowered.startswith("tel:"):
        value = value[4:].strip()
    digits = re.sub(r"\D", "", value)
    if digits in _ANONYMOUS_DIGITS and re.fullmatch(r"\+?[\d\s().-]+", value):
        return CallerId("anonymous", None, raw)
    try:
        return CallerId("pstn", normalize_phone(value, default_region), raw)
    except ValueError:
        return CallerId("pstn", None, raw)


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return ``raw`` as a valid E.164 number or raise ``ValueError`` saying why not."""
    value = (raw or "").strip()
    if not value:
        raise ValueError(Phrase(N_("phone number is empty")))
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise ValueError(
                Phrase(
                    N_(
                        "{number} is not a valid phone number: missing or unknown country "
                        "code (write it as +<country code><number>)"
                    ),
                    number=repr(value),
                )
            ) from None
        reason = str(exc.args[0]) if exc.args else str(exc)
        raise ValueError(
            Phrase(
                N_("{number} is not a valid phone number: {reason}"),
                number=repr(value),
                reason=reason,
            )
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(Phrase(N_("{number} is not a valid phone number"), number=repr(value)))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_account_code(raw: str) -> str:
    """Account codes are compared without whitespace and in upper case."""
    return _WHITESPACE_RE.sub("", raw or "").upper()


# --------------------------------------------------------------------------- look-ups


_BY_NUMBER = (
    select(Customer).join(CustomerPhone).where(CustomerPhone.number == bindparam("number"))
)  # built once: every incoming call looks its caller up


def find_customer_by_number(session: Session, e164: str | None) -> Customer | None:
    """The customer owning the E.164 number, or ``None``."""
    if not e164:
        return None
    return session.scalars(_BY_NUMBER, {"number": e164}).first()


def find_customer_by_account(session: Session, code: str | None) -> Customer | None:
    """The customer with this account code (case and whitespace ignored), or ``None``."""
    key = normalize_account_code(code or "")
    if not key:
        return None
    stmt = (
        select(Customer)
        .where(func.upper(Customer.account_code) == key)
        .order_by(Customer.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def find_customer_by_keypad_code(session: Session, digits: str) -> Customer | None:
    """The one customer whose account code's digits are `digits` ("1001" → ACME-1001).

    Callers can only key digits; an ambiguous match identifies nobody.
    """
    if not digits.isdigit():
        return None
    candidates = session.scalars(
        select(Customer).where(Customer.account_code.like(f"%{digits}")).limit(20)
    ).all()
    matches = [c for c in candidates if re.sub(r"\D", "", c.account_code or "") == digits]
    return matches[0] if len(matches) == 1 else None


# --------------------------------------------------------------------------- CSV import


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


class CustomerImportError(ValueError):
    """The CSV was rejected; ``errors`` holds ``"line N: field: problem"`` messages."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        shown = "\n".join(self.errors[:20])
        more = f"\n... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(
            f"customer import rejected ({len(self.errors)} problem(s)):\n{shown}{more}"
        )


@dataclass
class _Row:
    line: int
    name: str
    tier: str | None  # None: blank in the file
    language: str | None
    account: str | None
    notes: str | None
    phones: list[str] = field(default_factory=list)
    target: Customer | None = None


def import_customers_csv(
    session: Session,
    path_or_file: str | os.PathLike[str] | IO[str] | IO[bytes],
    default_region: str | None = None,
    languages: Iterable[str] = DEFAULT_LANGUAGES,
    checkpoint: Callable[[], None] | None = None,
) -> ImportReport:
    """Validate a whole customer CSV, then upsert it; all or nothing.

    Columns (header required, any order): ``name,phone,tier,language,account,notes``.
    ``phone`` may hold several numbers separated by ``;`` or ``|``.

    A row updates the customer with its account code; without an account code (or when the
    code is new and a listed phone belongs to a customer that has no account code yet), the
    customer owning the first listed phone that is already known. Otherwise a customer is
    created. The row's phones replace the customer's phones; a phone owned by another
    customer moves to this one. Blank tier/language/account/notes/phone cells keep an existing
    customer's value (new customers get tier ``normal``).

    Raises ``CustomerImportError`` listing every problem, before touching the database.
    Flushes but never commits; `checkpoint` (e.g. the caller's commit) is called after
    every :data:`IMPORT_BATCH` rows written, so no transaction holds the write lock long.
    """
    text = _read_text(path_or_file)
    rows = _parse_rows(text, languages, default_region)
    _resolve_targets(session, rows)
    return _apply(session, rows, checkpoint)


# Rows written per checkpoint: well under a second of write lock each.
IMPORT_BATCH = 500


def _read_text(path_or_file: str | os.PathLike[str] | IO[str] | IO[bytes]) -> str:
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as fh:
            data: str | bytes = fh.read()
    else:
        data = path_or_file.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CustomerImportError(
                [f"line {line}: file: not valid UTF-8 (byte {exc.start}); save the CSV as UTF-8"]
            ) from None
    return data.removeprefix("\ufeff")


def _parse_rows(text: str, languages: Iterable[str], default_region: str | None) -> list[_Row]:
    allowed = {_language_key(lang): lang for lang in languages}
    allowed_text = ", ".join(allowed.values()) or "(none)"
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[str] = []

    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CustomerImportError([f"line 1: header: {exc}"]) from None
    if header is None or not any(cell.strip() for cell in header):
        raise CustomerImportError([f"line 1: header: missing; expected {','.join(CSV_COLUMNS)}"])
    columns = [cell.strip().lower() for cell in header]
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            errors.append(f"line 1: header: duplicate column {col!r}")
        elif col not in CSV_COLUMNS:
            errors.append(
                f"line 1: header: unknown column {col!r} (expected {','.join(CSV_COLUMNS)})"
            )
        seen.add(col)
    missing = [col for col in CSV_COLUMNS if col not in seen]
    if missing:
        errors.append(f"line 1: header: missing column(s) {', '.join(missing)}")
    if errors:
        raise CustomerImportError(errors)
    index = {col: i for i, col in enumerate(columns)}

    rows: list[_Row] = []
    phone_lines: dict[str, int] = {}
    account_lines: dict[str, int] = {}
    next_line = reader.line_num + 1
    while True:
        line = next_line
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            errors.append(f"line {line}: row: {exc}")
            break
        if cells is None:
            break
        next_line = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank line, or a spreadsheet's empty ",,,,," row
        if len(cells) != len(columns):
            errors.append(f"line {line}: row: has {len(cells)} fields, expected {len(columns)}")
            continue
        values = {col: cells[i].strip() for col, i in index.items()}

        name = values["name"]
        if not name:
            errors.append(f"line {line}: name: required")
        elif len(name) > _NAME_MAX:
            errors.append(f"line {line}: name: too long (max {_NAME_MAX} characters)")

        tier: str | None = values["tier"].lower() or None
        if tier is not None and tier not in TIERS:
            errors.append(f"line {line}: tier: {values['tier']!r} is not one of {', '.join(TIERS)}")

        language: str | None = None
        if values["language"]:
            language = allowed.get(_language_key(values["language"]))
            if language is None:
                errors.append(
                    f"line {line}: language: {values['language']!r} is not one of {allowed_text}"
                )

        account: str | None = normalize_account_code(values["account"]) or None
        if account is not None:
            if not _ACCOUNT_RE.fullmatch(account):
                errors.append(
                    f"line {line}: account: {values['account']!r} must be 2-40 characters "
                    "of A-Z, 0-9 and '-'"
                )
            elif account in account_lines:
                errors.append(
                    f"line {line}: account: {account} is already used on line "
                    f"{account_lines[account]}"
                )
            else:
                account_lines[account] = line

        phones: list[str] = []
        for part in _PHONE_SPLIT_RE.split(values["phone"]):
            if not part.strip():
                continue
            try:
                number = normalize_phone(part, default_region)
            except ValueError as exc:
                errors.append(f"line {line}: phone: {exc}")
                continue
            if number in phones:
                continue  # the same number twice on one row (maybe formatted differently)
            first = phone_lines.setdefault(number, line)
            if first != line:
                errors.append(f"line {line}: phone: {number} is already listed on line {first}")
            phones.append(number)
        if not values["phone"].strip() and account is None:
            errors.append(f"line {line}: phone: required when account is blank")

        rows.append(
            _Row(
                line=line,
                name=name,
                tier=tier,
                language=language,
                account=account,
                notes=values["notes"] or None,
                phones=phones,
            )
        )
    if errors:
        raise CustomerImportError(errors)
    return rows


def _language_key(code: str) -> str:
    return code.strip().replace("_", "-").lower()


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _resolve_targets(session: Session, rows: list[_Row]) -> None:
    """Find each row's existing customer (read only); reject rows that collide."""
    accounts = sorted({row.account for row in rows if row.account})
    numbers = sorted({number for row in rows for number in row.phones})
    by_account: dict[str, Customer] = {}
    for chunk in _chunks(accounts):
        stmt = (
            select(Customer)
            .where(func.upper(Customer.account_code).in_(chunk))
            .options(selectinload(Customer.phones))
            .order_by(Customer.id)
        )
        for customer in session.scalars(stmt):
            by_account.setdefault((customer.account_code or "").upper(), customer)
    by_number: dict[str, Customer] = {}
    for chunk in _chunks(numbers):
        stmt = (
            select(CustomerPhone)
            .where(CustomerPhone.number.in_(chunk))
            .options(selectinload(CustomerPhone.customer).selectinload(Customer.phones))
        )
        for phone in session.scalars(stmt):
            by_number[phone.number] = phone.customer

    errors: list[str] = []
    claimed: dict[int, int] = {}
    for row in rows:
        target = by_account.get(row.account) if row.account else None
        if target is None:
            for number in row.phones:
                owner = by_number.get(number)
                if owner is not None and (row.account is None or owner.account_code is None):
                    target = owner
                    break
        if target is not None:
            first = claimed.setdefault(target.id, row.line)
            if first != row.line:
                errors.append(
                    f"line {row.line}: row: matches the same existing customer "
                    f"(id {target.id}, {target.name}) as line {first}"
                )
        row.target = target
    if errors:
        raise CustomerImportError(errors)


def _apply(
    session: Session, rows: list[_Row], checkpoint: Callable[[], None] | None = None
) -> ImportReport:
    report = ImportReport()
    numbers = sorted({number for row in rows for number in row.phones})
    with session.no_autoflush:
        existing_phones: dict[str, CustomerPhone] = {}
        for chunk in _chunks(numbers):
            for phone in session.scalars(
                select(CustomerPhone).where(CustomerPhone.number.in_(chunk))
            ):
                existing_phones[phone.number] = phone

        # Decide created/updated/unchanged before anything moves.
        changed: list[bool] = []
        for row in rows:
            customer = row.target
            if customer is None:
                changed.append(True)
                continue
            fields_differ = (
                customer.name != row.name
                or (row.tier is not None and customer.tier != row.tier)
                or (row.language is not None and customer.language != row.language)
                or (row.account is not None and customer.account_code != row.account)
                or (row.notes is not None and customer.notes != row.notes)
            )
            current = sorted(phone.number for phone in customer.phones)
            phones_differ = bool(row.phones) and current != sorted(row.phones)
            changed.append(fields_differ or phones_differ)

        for start in range(0, len(rows), IMPORT_BATCH):
            batch = slice(start, start + IMPORT_BATCH)
            _write_rows(session, rows[batch], changed[batch], existing_phones, report)
            session.flush()
            if checkpoint is not None and start + IMPORT_BATCH < len(rows):
                checkpoint()
    return report


def _write_rows(
    session: Session,
    rows: list[_Row],
    changed: list[bool],
    existing_phones: dict[str, CustomerPhone],
    report: ImportReport,
) -> None:
    """Upsert one batch of validated rows (their customers and phones)."""
    with session.no_autoflush:
        for row, is_changed in zip(rows, changed, strict=True):
            customer = row.target
            if customer is None:
                customer = Customer(
                    name=row.name,
                    tier=row.tier or "normal",
                    language=row.language,
                    account_code=row.account,
                    notes=row.notes or "",
                )
                session.add(customer)
                row.target = customer
                report.created += 1
            elif not is_changed:
                report.unchanged += 1
                continue
            else:
                customer.name = row.name
                if row.tier is not None:
                    customer.tier = row.tier
                if row.language is not None:
                    customer.language = row.language
                if row.account is not None:
                    customer.account_code = row.account
                if row.notes is not None:
                    customer.notes = row.notes
                report.updated += 1
            # Move or create every listed phone first; drop unlisted ones afterwards, so no
            # number is ever deleted and re-inserted in the same flush.
            for number in row.phones:
                phone = existing_phones.get(number)
                if phone is None:
                    phone = CustomerPhone(number=number)
                    existing_phones[number] = phone
                if phone.customer is not customer:
                    # Appending (not ``phone.customer = ...``) cascades a new phone into the
                    # session; the backref takes a moved phone out of its old owner's list.
                    customer.phones.append(phone)

        for row in rows:
            customer = row.target
            if customer is None or not row.phones:
                continue
            keep = set(row.phones)
            for phone in list(customer.phones):
                if phone.number not in keep:
                    customer.phones.remove(phone)
                    # A later batch listing this number creates it anew.
                    existing_phones.pop(phone.number, None)
