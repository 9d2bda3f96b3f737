"""Calls an agent places: click-to-call and the dial pad (pure domain).

An outbound call is a call-back the agent starts now: the same call record (a new call,
`direction` "outbound"), the same bridge (the agent's leg first, then the customer's, into
the call's conference, recorded once both are in), the same end (the agent's wrap-up). What
differs is only that the offer a call-back rings the console with is taken at once, by the
agent who asked (:func:`dial_now`), so nothing rings.

Who may call where is checked here, in one place, for every way a call is started (the
console's `call:dial`, the softphone's `/twilio/client/outgoing`):

>>> from callcenter.config import OutboundConfig
>>> rules = OutboundConfig(allowed_country_codes=["86"], blocked_prefixes=["+86168"])
>>> allowed_number(rules, "+86 138 0013 8000")
'+8613800138000'
>>> allowed_number(rules, "+14155550100")
Traceback (most recent call last):
...
callcenter.calls.routing.RoutingError: calls to +1 numbers are not allowed
"""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.callbacks import call_back
from callcenter.calls.routing import Changes, RoutingError, accept
from callcenter.config import OutboundConfig, Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call, Customer, CustomerPhone
from callcenter.people.customers import normalize_phone

OUTBOUND = "outbound"


def allowed_number(rules: OutboundConfig, raw: str) -> str:
    """`raw` as an E.164 number agents may call, or RoutingError saying why not: not a
    valid number in international form, a country not in `allowed_country_codes`, a
    `blocked_prefixes` prefix, or a premium-rate number (by the numbering plan)."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        raise RoutingError(N_("enter the number with its country code, starting with +"))
    digits = "+" + re.sub(r"[\s().-]", "", text[1:])
    if any(digits.startswith(prefix) for prefix in rules.blocked_prefixes):
        raise RoutingError(
            N_("{number} is a premium-rate number: calls to it are not allowed"), number=digits[:40]
        )
    try:
        number = normalize_phone(text)
    except ValueError:
        raise RoutingError(N_("{number} is not a valid phone number"), number=text[:40]) from None
    parsed = phonenumbers.parse(number)
    if str(parsed.country_code) not in rules.allowed_country_codes:
        raise RoutingError(N_("calls to +{code} numbers are not allowed"), code=parsed.country_code)
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        raise RoutingError(
            N_("{number} is a premium-rate number: calls to it are not allowed"), number=number
        )
    return number


def ready_to_dial(agent: Agent) -> None:
    """An agent places a call only when available (not on a call, ringing, away or in
    wrap-up): RoutingError otherwise."""
    if not agent.active:
        raise RoutingError(N_("this account is deactivated"))
    if agent.status != "available":
        raise RoutingError(N_("go available first: you are {status}"), status=agent.status)


def call_out(
    session: Session,
    settings: Settings,
    agent: Agent,
    now: datetime,
    *,
    number: str | None = None,
    customer_id: int | None = None,
) -> tuple[Changes, str]:
    """A new outbound call record from `agent` to `number`, or to `customer_id`'s first
    phone number; returns the changes and its SID. Take it with :func:`dial_now`."""
    ready_to_dial(agent)
    customer = session.get(Customer, customer_id) if customer_id is not None else None
    if customer_id is not None and customer is None:
        raise RoutingError(N_("no such customer"))
    if number is None and customer is not None:
        number = session.scalar(
            select(CustomerPhone.number)
            .where(CustomerPhone.customer_id == customer.id)
            .order_by(CustomerPhone.id)
            .limit(1)
        )
        if number is None:
            raise RoutingError(N_("{name} has no phone number"), name=customer.name)
    if not number:
        raise RoutingError(N_("enter a number or choose a customer"))
    number = allowed_number(settings.outbound, number)
    if customer is None:
        customer = session.scalar(
            select(Customer).join(CustomerPhone).where(CustomerPhone.number == number)
        )
    return call_back(
        session, settings, agent, now, original_sid=None, pending_sid=None,
        queue_name=None, customer_id=customer.id if customer else None,
        context={}, what="call", number=number,
    )  # fmt: skip


def dial_now(
    session: Session, settings: Settings, agent_id: int, call_sid: str, now: datetime
) -> Changes:
    """The agent takes the call-back `call_sid` they just created, at once: its number
    checked against the rules, the call marked as the agent's own outbound call (the
    screen-pop says `kind` "outbound", no accept needed). After the commit the bridge
    dials the agent, then the customer (callcenter.web.bridging)."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    if call is None or call.direction != OUTBOUND:
        raise RoutingError(N_("no such call to place"))
    allowed_number(settings.outbound, call.caller_number or "")
    call.context = {**(call.context or {}), OUTBOUND: True}
    return accept(session, agent_id, call_sid, now)


def is_outbound(call: Call) -> bool:
    """A call an agent placed (not a call-back offered to them, nor an inbound call)."""
    return bool((call.context or {}).get(OUTBOUND))
