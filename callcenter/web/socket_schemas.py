"""What each Socket.IO client → server event may carry, and the one way to register one.

Every client event is registered with :func:`handle` and a payload model below, never with
`socketio.on_event` directly (tests/test_socket_input.py fails for an event without one).
In callcenter/web/agent_events.py that is its `on(namespace, event, Model, handler)`, which
supplies the actor check of the namespace (callcenter/web/supervisor_events.py gets the same
`on` for `/supervisor`)::

    class Take(CallPayload):  # here, with the other models (its example: CallPayload's)
        ...

    on(SUPERVISOR_NS, "supervisor:take", Take, audited("supervisor:take", take))

For each event `handle`:

1. checks who is acting (`actor()`: on `/agent` the console's agent, re-checking their
   session; on `/supervisor` a signed-in supervisor) — a refusal is the ack's error;
2. validates the payload: exactly one JSON object (a missing payload, `null`, a list, a
   string are refused), strict JSON types (`"false"` is not a boolean, `"1"` not a
   number), ids 1 to 2^63−1, bounded strings, no unknown fields;
3. calls `handler(actor_id, payload)` with the parsed model and acks what it returns;
4. always acks: a bad payload `{"error": "<field>: <problem>"}`, a refused action
   `{"error": "why"}`, anything unexpected `{"error": "internal error"}` (logged with
   its traceback). Nothing is changed or logged for a refused payload.

The limits are the product's promises: docs/agent-protocol.md lists them per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from flask_socketio import SocketIO
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from callcenter.calls.records import CALL_SID
from callcenter.calls.routing import RoutingError
from callcenter.media.call_recordings import RecordingError
from callcenter.messages import N_
from callcenter.people.agents import CHOOSABLE, AgentError
from callcenter.people.customers import normalize_phone
from callcenter.supervision.steps import SupervisionError
from callcenter.supervision.thresholds import MAX_OLDEST_WAIT, ThresholdError
from callcenter.web.i18n import refusal_text
from callcenter.web.limits import MAX_ID

log = logging.getLogger("callcenter.socket_events")

AGENT_NUMBER_PATTERN = r"^[0-9]{3,8}$"
REASON_MAX = 120  # what an agent's status reason keeps
NOTES_MAX = 4000  # the wrap-up form's limit, and what a call keeps
NAME_MAX = 64
PHONE_MAX = 32
# Refusals a handler may raise: their text is the ack's error.
REFUSALS: tuple[type[Exception], ...] = (
    RoutingError, AgentError, RecordingError, SupervisionError, ThresholdError,
)  # fmt: skip
MAX_PRIORITY = 1000  # a queue priority a supervisor may give
_CONTROL = {chr(code) for code in (*range(0x20), 0x7F)} - {"\t", "\n", "\r"}


class InvalidPayload(ValueError):
    """A payload the event does not accept; the text is the ack's error."""


def _plain_text(value: str) -> str:
    if any(char in _CONTROL for char in value):
        raise ValueError("must not contain control characters")
    return value


CallSid = Annotated[str, Field(pattern=CALL_SID.pattern)]
AgentId = Annotated[int, Field(ge=1, le=MAX_ID)]
AgentNumber = Annotated[str, Field(pattern=AGENT_NUMBER_PATTERN)]
QueueName = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Phone = Annotated[str, Field(min_length=1, max_length=PHONE_MAX), AfterValidator(normalize_phone)]
Reason = Annotated[str, Field(max_length=REASON_MAX), AfterValidator(_plain_text)]
Notes = Annotated[str, Field(max_length=NOTES_MAX), AfterValidator(_plain_text)]

_PATTERNS = {
    CALL_SID.pattern: "must be a call SID (CA and 32 hex digits)",
    AGENT_NUMBER_PATTERN: "must be an agent number (3 to 8 digits)",
}
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this event",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be {expected}",
}
_SAMPLE = "CA" + "0123456789abcdef" * 2


class Payload(BaseModel):
    """A client event's payload: strict JSON types, unknown fields refused.

    `example` is a valid payload; the tests send it with each field made wrong in turn.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    example: ClassVar[dict[str, Any]]


class CallPayload(Payload):
    call_sid: CallSid
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE}


class Status(Payload):
    """`agent:status`."""

    status: str
    reason: Reason | None = None
    example: ClassVar[dict[str, Any]] = {"status": "away", "reason": "lunch"}

    @field_validator("status")
    @classmethod
    def _choosable(cls, value: str) -> str:
        if value not in CHOOSABLE:
            raise ValueError(f"must be one of {', '.join(CHOOSABLE)}")
        return value


class SoftphoneState(Payload):
    """`softphone:state`: the console's softphone is `ready` or `unreachable` (`reason`)."""

    state: Literal["ready", "unreachable"]
    reason: Reason | None = None
    example: ClassVar[dict[str, Any]] = {"state": "unreachable", "reason": "timed out"}


class Accept(CallPayload):
    """`call:accept`."""


class Decline(CallPayload):
    """`call:decline`."""


class Hangup(CallPayload):
    """`call:hangup`."""


class ConsultAccept(CallPayload):
    """`call:consult-accept`."""


class ConsultDecline(CallPayload):
    """`call:consult-decline`."""


class CompleteTransfer(CallPayload):
    """`call:complete-transfer`."""


class CancelConsult(CallPayload):
    """`call:cancel-consult`."""


class Hold(CallPayload):
    """`call:hold`: `hold` is a JSON boolean, true when left out."""

    hold: bool = True
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "hold": False}


class Record(CallPayload):
    """`call:record`."""

    action: Literal["pause", "resume"]
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "action": "pause"}


class Transfer(CallPayload):
    """`call:transfer`: exactly one of `queue`, `agent` (an id), `agent_number`."""

    queue: QueueName | None = None
    agent: AgentId | None = None
    agent_number: AgentNumber | None = None
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "queue": "support"}

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        targets = [self.queue, self.agent, self.agent_number]
        if sum(target is not None for target in targets) != 1:
            raise ValueError("transfer to one of queue, agent or agent_number")
        return self


class Consult(CallPayload):
    """`call:consult`."""

    agent_number: AgentNumber
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "agent_number": "1025"}


class AddParty(CallPayload):
    """`call:add`: `number` comes out in E.164."""

    number: Phone
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "number": "+8613912345678"}


class Dial(Payload):
    """`call:dial`: exactly one of `number` (checked against `outbound` in config.yaml),
    `customer_id` (their first number), `voicemail_id`, `followup_id` (its caller)."""

    number: Annotated[str, Field(min_length=1, max_length=PHONE_MAX)] | None = None
    customer_id: AgentId | None = None
    voicemail_id: AgentId | None = None
    followup_id: AgentId | None = None
    example: ClassVar[dict[str, Any]] = {"number": "+8613912345678"}

    @model_validator(mode="after")
    def _one_target(self) -> Dial:
        targets = [self.number, self.customer_id, self.voicemail_id, self.followup_id]
        if sum(target is not None for target in targets) != 1:
            raise ValueError("call one of number, customer_id, voicemail_id or followup_id")
        return self


class Wrapup(CallPayload):
    """`call:wrapup`: `disposition` is a code of `dispositions` in config.yaml."""

    disposition: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    notes: Notes = ""
    example: ClassVar[dict[str, Any]] = {
        "call_sid": _SAMPLE, "disposition": "resolved", "notes": "sent a new router",
    }  # fmt: skip

    @field_validator("disposition")
    @classmethod
    def _configured(cls, value: str, info: ValidationInfo) -> str:
        codes = (info.context or {}).get("dispositions")
        if codes is not None and value not in codes:
            raise ValueError(f"must be one of {', '.join(codes)}")
        return value


# -- /supervisor (callcenter/web/supervisor_events.py) --------------------------------------


class Monitor(CallPayload):
    """`supervisor:monitor`: listen to a connected call, muted."""


class Coach(CallPayload):
    """`supervisor:coach`: be heard by the call's agent only."""


class Barge(CallPayload):
    """`supervisor:barge`: be heard by everyone on the call."""


class Leave(CallPayload):
    """`supervisor:leave`: hang up one's own leg of the call; the call goes on."""


class Take(CallPayload):
    """`supervisor:take`: answer a waiting call oneself."""


class AgentStatus(Status):
    """`supervisor:agent-status`: set an agent available, away (with a reason) or offline."""

    agent_id: AgentId
    example: ClassVar[dict[str, Any]] = {"agent_id": 7, "status": "away", "reason": "coaching"}


class Move(CallPayload):
    """`supervisor:move`: a waiting caller to another `queue` and/or to a `priority` (0 to
    1000, or `"front"`: ahead of everyone waiting there)."""

    queue: QueueName | None = None
    priority: Annotated[int, Field(ge=0, le=MAX_PRIORITY)] | Literal["front"] | None = None
    example: ClassVar[dict[str, Any]] = {"call_sid": _SAMPLE, "queue": "support",
                                         "priority": "front"}  # fmt: skip

    @field_validator("priority", mode="wrap")
    @classmethod
    def _priority(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(f'must be 0 to {MAX_PRIORITY}, or "front"') from None


class Thresholds(Payload):
    """`supervisor:thresholds`: a queue's alert thresholds. A field sent as null goes back
    to config.yaml's default; a field left out stays as it is."""

    queue: QueueName
    oldest_wait_seconds: Annotated[int, Field(ge=1, le=MAX_OLDEST_WAIT)] | None = None
    service_level: Annotated[float, Field(ge=0, le=1)] | None = None
    example: ClassVar[dict[str, Any]] = {"queue": "support", "oldest_wait_seconds": 90,
                                         "service_level": 0.8}  # fmt: skip

    def values(self) -> dict[str, Any]:
        """The thresholds sent (null ones included), by name."""
        return {name: getattr(self, name) for name in self.model_fields_set if name != "queue"}


def describe(exc: ValidationError) -> str:
    """The first problem of a refused payload, as `field: problem`."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    if len(where) > NAME_MAX:  # an unknown field's name is the sender's
        where = where[:NAME_MAX] + "…"
    context = error.get("ctx") or {}
    if error["type"] == "string_pattern_mismatch":
        problem = _PATTERNS.get(context.get("pattern", ""), "is not in the expected form")
    elif error["type"] in _MESSAGES:
        problem = _MESSAGES[error["type"]].format(**context)
    else:
        problem = error["msg"].removeprefix("Value error, ")
    return f"{where}: {problem}" if where else problem


def parse(model: type[Payload], args: tuple[Any, ...], context: Mapping[str, Any] | None) -> Any:
    """The event's arguments as `model`, or InvalidPayload saying what is wrong."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise InvalidPayload(N_("the payload must be one JSON object"))
    try:
        return model.model_validate(args[0], context=context)
    except ValidationError as exc:
        raise InvalidPayload(describe(exc)) from None


def handle(
    socketio: SocketIO,
    namespace: str,
    event: str,
    model: type[Payload],
    handler: Callable[[int, Any], dict[str, Any]],
    *,
    actor: Callable[[], int],
    context: Callable[[], Mapping[str, Any]] | None = None,
) -> None:
    """Register `handler(actor_id, payload)` for a client event (see the module docstring)."""

    def on_event(*args: Any) -> dict[str, Any]:
        try:
            actor_id = actor()
            payload = parse(model, args, context() if context else None)
            return handler(actor_id, payload)
        except (InvalidPayload, *REFUSALS) as exc:
            return {"error": refusal_text(exc)}
        except Exception:
            log.exception("Socket.IO event %s on %s failed", event, namespace)
            return {"error": refusal_text(N_("internal error"))}

    on_event.__name__ = f"on_{event}"
    on_event.schema = model  # type: ignore[attr-defined]  # the tests find each event's
    socketio.on_event(event, on_event, namespace=namespace)
