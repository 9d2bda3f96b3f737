"""Customer records: search, create, edit, each change kept in the customer's history.

Pure domain: functions take a ``Session`` and flush, never commit. Field problems raise
:class:`CustomerInvalid` (``errors``: field → message); refusals raise :class:`CustomerError`
with an HTTP-like ``status``.

>>> found = search(session, "+86 138 0013 8000")
>>> customer, created = create_customer(session, agent, {"name": "Li Lei",
...     "phones": ["+8613800138000"]}, languages=["en", "zh-CN"], now=now)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from callcenter.crm.models import CustomerChange
from callcenter.messages import N_, Phrase
from callcenter.models import TIERS, Agent, Customer, CustomerPhone
from callcenter.people.customers import normalize_account_code, normalize_phone
from callcenter.supervision import audit

FIELDS = ("name", "phones", "tier", "language", "account", "notes", "account_manager_id")
SUPERVISOR_FIELDS = ("tier", "account_manager_id")
"""Only supervisors (and admins) set these: the tier and the account manager decide routing."""

NAME_MAX = 200
NOTES_MAX = 4000
PHONES_MAX = 10
SEARCH_MAX = 50
REPEAT_WINDOW = timedelta(minutes=1)
"""A create repeated within this window (same name, same numbers, same agent) answers the
customer already made: a double click makes one customer."""

_ACCOUNT_RE = re.compile(r"[A-Z0-9-]{2,40}")


class CustomerInvalid(Exception):
    """Fields that cannot be accepted: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = dict(errors)


class CustomerError(Exception):
    """A refused action: ``status`` is 403 (not allowed), 404 (no such customer) or 409."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# -- reading ----------------------------------------------------------------------------------


def get_customer(session: Session, customer_id: int, *, lock: bool = False) -> Customer:
    """The customer, or :class:`CustomerError` 404."""
    query = select(Customer).where(Customer.id == customer_id)
    if lock:
        query = query.with_for_update()
    customer = session.scalar(query)
    if customer is None:
        raise CustomerError("no such customer", 404)
    return customer


def search(session: Session, q: str, limit: int = 20) -> list[Customer]:
    """Customers whose name contains `q`, who own the number `q` (any format, compared as
    E.164, or its digits as part of a number), or whose account code is `q`; by name."""
    text = (q or "").strip()[:200]
    if not text:
        return []
    conditions = [func.lower(Customer.name).contains(text.lower(), autoescape=True)]
    numbers = select(CustomerPhone.customer_id)
    with contextlib.suppress(ValueError):  # not a whole number: the digits may still match
        conditions.append(
            Customer.id.in_(numbers.where(CustomerPhone.number == normalize_phone(text)))
        )
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4 and re.fullmatch(r"[\d\s()+.-]+", text):
        conditions.append(Customer.id.in_(numbers.where(CustomerPhone.number.contains(digits))))
    account = normalize_account_code(text)
    if account:
        conditions.append(func.upper(Customer.account_code) == account)
    query = (
        select(Customer)
        .where(or_(*conditions))
        .options(selectinload(Customer.phones))
        .order_by(Customer.name, Customer.id)
        .limit(max(1, min(limit, SEARCH_MAX)))
    )
    return list(session.scalars(query))


def describe(customer: Customer) -> dict[str, Any]:
    """A customer for the API: its fields and the account manager."""
    manager = customer.account_manager
    return {
        **customer.summary(),
        "account_manager": (
            {"id": manager.id, "name": manager.display_name, "number": manager.agent_number}
            if manager is not None
            else None
        ),
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
    }


def history(session: Session, customer_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The customer's changes, newest first."""
    rows = session.scalars(
        select(CustomerChange)
        .where(CustomerChange.customer_id == customer_id)
        .order_by(CustomerChange.at.desc(), CustomerChange.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": row.at.isoformat(),
            "actor": row.actor,
            "field": row.field,
            "old": row.old_value,
            "new": row.new_value,
        }
        for row in rows
    ]


def note_change(
    session: Session,
    customer_id: int,
    actor: Agent | None,
    name: str,
    old: str | None,
    new: str | None,
    now: datetime,
    *,
    actor_name: str | None = None,
) -> CustomerChange:
    """Append one row of the customer's history (the caller commits)."""
    change = CustomerChange(
        customer_id=customer_id,
        at=now,
        actor_id=actor.id if actor is not None else None,
        actor=(actor.username if actor is not None else actor_name or "system")[:64],
        field=name[:40],
        old_value=old,
        new_value=new,
    )
    session.add(change)
    return change


# -- checking fields --------------------------------------------------------------------------


@dataclass
class _Checked:
    """The accepted values of a request body; problems gather in ``errors``."""

    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def check_fields(
    session: Session, body: Mapping[str, Any], languages: Iterable[str], *, creating: bool
) -> dict[str, Any]:
    """Validate the fields of `body` (only those present, and ``name`` when creating);
    unknown fields are refused. Returns field → the value to store."""
    checked = _Checked()
    for name in body:
        if name not in FIELDS and name != "request_id":
            checked.errors[name] = N_("is not a customer field")
    if "name" in body or creating:
        _name(checked, body.get("name"))
    if "phones" in body:
        _phones(checked, body["phones"])
    if "tier" in body:
        tier = body["tier"]
        if tier not in TIERS:
            checked.errors["tier"] = Phrase(
                N_("must be one of {choices}"), choices=", ".join(TIERS)
            )
        else:
            checked.values["tier"] = tier
    if "language" in body:
        _language(checked, body["language"], languages)
    if "account" in body:
        _account(checked, body["account"])
    if "notes" in body:
        notes = body["notes"]
        if notes is None:
            notes = ""
        if not isinstance(notes, str):
            checked.errors["notes"] = N_("must be text")
        elif len(notes) > NOTES_MAX:
            checked.errors["notes"] = Phrase(
                N_("must be at most {limit} characters"), limit=NOTES_MAX
            )
        else:
            checked.values["notes"] = notes.strip()
    if "account_manager_id" in body:
        _manager(session, checked, body["account_manager_id"])
    if checked.errors:
        raise CustomerInvalid(checked.errors)
    return checked.values


def _name(checked: _Checked, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        checked.errors["name"] = N_("is required") if value in (None, "") else N_("must be text")
        return
    name = " ".join(value.split())
    if len(name) > NAME_MAX:
        checked.errors["name"] = Phrase(N_("must be at most {limit} characters"), limit=NAME_MAX)
    else:
        checked.values["name"] = name


def _phones(checked: _Checked, value: Any) -> None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        checked.errors["phones"] = N_("must be a list of phone numbers")
        return
    if len(value) > PHONES_MAX:
        checked.errors["phones"] = Phrase(N_("at most {limit} numbers"), limit=PHONES_MAX)
        return
    numbers: list[str] = []
    for item in value:
        if not item.strip():
            continue
        try:
            number = normalize_phone(item)
        except ValueError as exc:
            checked.errors["phones"] = _why(exc)
            return
        if number not in numbers:
            numbers.append(number)
    checked.values["phones"] = numbers


def _why(exc: ValueError) -> str:
    """What a ValueError says, kept translatable when it was raised with a Phrase."""
    reason = exc.args[0] if exc.args else None
    return reason if isinstance(reason, Phrase) else str(exc)


def _language(checked: _Checked, value: Any, languages: Iterable[str]) -> None:
    if value in (None, ""):
        checked.values["language"] = None
        return
    allowed = {lang.lower(): lang for lang in languages}
    found = (
        allowed.get(str(value).strip().replace("_", "-").lower())
        if isinstance(value, str)
        else None
    )
    if found is None:
        checked.errors["language"] = Phrase(
            N_("must be one of {choices}"), choices=", ".join(allowed.values())
        )
    else:
        checked.values["language"] = found


def _account(checked: _Checked, value: Any) -> None:
    if value in (None, ""):
        checked.values["account"] = None
        return
    if not isinstance(value, str):
        checked.errors["account"] = N_("must be text")
        return
    code = normalize_account_code(value)
    if not _ACCOUNT_RE.fullmatch(code):
        checked.errors["account"] = N_("must be 2-40 characters of A-Z, 0-9 and '-'")
    else:
        checked.values["account"] = code


def _manager(session: Session, checked: _Checked, value: Any) -> None:
    if value is None:
        checked.values["account_manager_id"] = None
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        checked.errors["account_manager_id"] = N_("must be an agent id (a positive integer)")
        return
    agent = session.get(Agent, value)
    if agent is None or not agent.active:
        checked.errors["account_manager_id"] = N_("no such active agent")
    else:
        checked.values["account_manager_id"] = value


def _check_taken(
    session: Session, values: Mapping[str, Any], customer_id: int | None
) -> dict[str, str]:
    """Numbers and account codes another customer already holds."""
    errors: dict[str, str] = {}
    numbers = values.get("phones") or []
    if numbers:
        owned = session.execute(
            select(CustomerPhone.number, CustomerPhone.customer_id).where(
                CustomerPhone.number.in_(numbers)
            )
        ).all()
        for number, owner in owned:
            if owner != customer_id:
                errors["phones"] = Phrase(
                    N_("{number} already belongs to customer #{id}"), number=number, id=owner
                )
                break
    code = values.get("account")
    if code:
        owner = session.scalar(
            select(Customer.id).where(func.upper(Customer.account_code) == code.upper())
        )
        if owner is not None and owner != customer_id:
            errors["account"] = Phrase(
                N_("{number} already belongs to customer #{id}"), number=code, id=owner
            )
    return errors


def _refuse_unless_supervisor(
    actor: Agent, customer: Customer | None, values: Mapping[str, Any]
) -> None:
    if actor.is_supervisor:
        return
    current = {
        "tier": customer.tier if customer is not None else "normal",
        "account_manager_id": customer.account_manager_id if customer is not None else None,
    }
    for name in SUPERVISOR_FIELDS:
        if name in values and values[name] != current[name]:
            raise CustomerError("only supervisors set the tier and the account manager", 403)


# -- writing ----------------------------------------------------------------------------------


def _shown(name: str, value: Any) -> str | None:
    """A field's value as the history shows it."""
    if value is None:
        return None
    if name == "phones":
        return ", ".join(value)
    return str(value)


def _current(customer: Customer, name: str) -> Any:
    if name == "phones":
        return [phone.number for phone in customer.phones]
    if name == "account":
        return customer.account_code
    return getattr(customer, name)


def _apply(
    session: Session, customer: Customer, values: Mapping[str, Any], actor: Agent, now: datetime
) -> list[str]:
    """Set the changed fields, note each in the history; the names of those changed."""
    changed: list[str] = []
    for name in FIELDS:
        if name not in values:
            continue
        old, new = _current(customer, name), values[name]
        if old == new:
            continue
        if name == "phones":
            keep = set(new)
            for phone in list(customer.phones):
                if phone.number not in keep:
                    customer.phones.remove(phone)
            session.flush()  # a number removed and added back is never two rows at once
            have = {phone.number for phone in customer.phones}
            customer.phones.extend(CustomerPhone(number=n) for n in new if n not in have)
        elif name == "account":
            customer.account_code = new
        else:
            setattr(customer, name, new)
        changed.append(name)
        if customer.id is not None:
            note_change(
                session, customer.id, actor, name, _shown(name, old), _shown(name, new), now
            )
        if name in SUPERVISOR_FIELDS and customer.id is not None:
            audit.record(session, actor, f"customer.{name}", now,
                         customer_id=customer.id, old=old, new=new)  # fmt: skip
    customer.updated_at = now
    return changed


def create_customer(
    session: Session, actor: Agent, body: Mapping[str, Any], languages: Iterable[str], now: datetime
) -> tuple[Customer, bool]:
    """Create a customer from `body` → (customer, True); a repeat of the same create
    (double click) → (the customer it made, False)."""
    values = check_fields(session, body, languages, creating=True)
    _refuse_unless_supervisor(actor, None, values)
    repeat = _repeated_create(session, actor, values, now)
    if repeat is not None:
        return repeat, False
    errors = _check_taken(session, values, None)
    if errors:
        raise CustomerInvalid(errors)
    customer = Customer(
        name=values["name"],
        tier=values.get("tier", "normal"),
        language=values.get("language"),
        account_code=values.get("account"),
        notes=values.get("notes", ""),
        account_manager_id=values.get("account_manager_id"),
        created_at=now,
        updated_at=now,
    )
    customer.phones.extend(CustomerPhone(number=n) for n in values.get("phones", []))
    try:
        with session.begin_nested():
            session.add(customer)
    except IntegrityError:
        # A concurrent twin took a number or the account code first.
        repeat = _repeated_create(session, actor, values, now)
        if repeat is not None:
            return repeat, False
        taken = _check_taken(session, values, None) or {"phones": N_("already taken")}
        raise CustomerInvalid(taken) from None
    note_change(session, customer.id, actor, "created", None, _summary_line(customer), now)
    for name in SUPERVISOR_FIELDS:
        if values.get(name) is not None:
            audit.record(session, actor, f"customer.{name}", now,
                         customer_id=customer.id, old=None, new=values[name])  # fmt: skip
    return customer, True


def _summary_line(customer: Customer) -> str:
    phones = ", ".join(phone.number for phone in customer.phones)
    return f"{customer.name}" + (f" ({phones})" if phones else "")


def _repeated_create(
    session: Session, actor: Agent, values: Mapping[str, Any], now: datetime
) -> Customer | None:
    numbers: Sequence[str] = values.get("phones") or []
    if not numbers:
        return None
    customer = session.scalar(
        select(Customer).join(CustomerPhone).where(CustomerPhone.number == numbers[0])
    )
    if customer is None or customer.name != values.get("name"):
        return None
    if sorted(p.number for p in customer.phones) != sorted(numbers):
        return None
    made_by = session.scalar(
        select(CustomerChange.actor_id).where(
            CustomerChange.customer_id == customer.id,
            CustomerChange.field == "created",
            CustomerChange.at >= now - REPEAT_WINDOW,
        )
    )
    return customer if made_by == actor.id else None


def update_customer(
    session: Session,
    actor: Agent,
    customer_id: int,
    body: Mapping[str, Any],
    languages: Iterable[str],
    now: datetime,
) -> tuple[Customer, list[str]]:
    """Change the fields in `body` → (customer, the fields changed); each noted."""
    customer = get_customer(session, customer_id, lock=True)
    values = check_fields(session, body, languages, creating=False)
    _refuse_unless_supervisor(actor, customer, values)
    errors = _check_taken(session, values, customer.id)
    if errors:
        raise CustomerInvalid(errors)
    try:
        with session.begin_nested():
            changed = _apply(session, customer, values, actor, now)
    except IntegrityError:
        raise CustomerInvalid(
            _check_taken(session, values, customer.id) or {"phones": N_("already taken")}
        ) from None
    return customer, changed
