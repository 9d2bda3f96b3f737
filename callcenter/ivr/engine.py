"""The IVR engine: walks a call through its flow and says what the caller should get next.

It knows nothing of Twilio or Flask. Each step returns a list of actions (the vocabulary in
`ivr/actions.py`) ending with one that hands control back to the telephony platform (gather
input, enqueue, record, dial, hang up); an adapter renders them as TwiML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.calls.records import log_event
from callcenter.config import HoursConfig, MailboxConfig, QueueConfig, localized
from callcenter.ivr.actions import (
    Action,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    PlayAudio,
    Prompt,
    Record,
    Silence,
    Speak,
)
from callcenter.ivr.hours import is_holiday, is_open
from callcenter.ivr.loader import FlowSet
from callcenter.ivr.schema import (
    BranchNode,
    Condition,
    Flow,
    GotoNode,
    HangupNode,
    InputNode,
    KnowledgeNode,
    LanguageNode,
    LocalizedText,
    LookupNode,
    MenuNode,
    MessageNode,
    Prompting,
    QueueNode,
    TransferNode,
    VoicemailNode,
)
from callcenter.ivr.spoken import AGENT_WORDS, digits_from_speech, render_segments, voice_for
from callcenter.knowledge.models import KbArticle
from callcenter.knowledge.usage import record_lookup
from callcenter.models import Call, Customer, utcnow
from callcenter.people.customers import (
    find_customer_by_account,
    find_customer_by_keypad_code,
    find_customer_by_number,
)

MAX_NODES_PER_STEP = 64


@dataclass
class EngineSettings:
    """What the engine needs from the configuration."""

    default_language: str
    hours: Mapping[str, HoursConfig] = field(default_factory=dict)
    queues: Mapping[str, QueueConfig] = field(default_factory=dict)
    mailboxes: Mapping[str, MailboxConfig] = field(default_factory=dict)
    fallback_mailbox: str = "general"
    apology: Mapping[str, str] = field(default_factory=dict)
    knowledge_offer: Mapping[str, str] = field(default_factory=dict)


class IvrEngine:
    """Runs flows for calls. Stateless between webhooks: all state is on the Call row."""

    def __init__(
        self,
        flows: Callable[[], FlowSet],
        settings: EngineSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._flows = flows
        self.settings = settings
        self.clock = clock

    @property
    def flows(self) -> FlowSet:
        return self._flows()

    # -- entry points -----------------------------------------------------------------

    def start(self, session: Session, call: Call) -> list[Action]:
        """Answer a new call at its flow's start node."""
        flow = self.flows.get(call.flow)
        return self._run(session, call, flow.flow, self._entry_node(flow))

    def resume(
        self,
        session: Session,
        call: Call,
        flow_name: str,
        node_name: str,
        attempt: int,
        digits: str | None,
        speech: str | None,
    ) -> list[Action]:
        """Handle what the caller entered at a gathering node (None/empty = no input)."""
        flows = self.flows
        if flow_name not in flows or node_name not in flows.get(flow_name).nodes:
            # The flow changed under a live call: start its current flow over.
            log_event(session, call.call_sid, "ivr.stale_step", flow=flow_name, node=node_name)
            flow = flows.get(call.flow if call.flow in flows else next(iter(flows.flows)))
            return self._run(session, call, flow.flow, flow.start)
        node = flows.node(flow_name, node_name)
        digits = (digits or "").strip()
        speech = (speech or "").strip()
        given = digits or speech
        log_event(
            session,
            call.call_sid,
            "ivr.input" if given else "ivr.no_input",
            flow=flow_name,
            node=node_name,
            input=given or None,
            attempt=attempt,
            via="speech" if speech and not digits else "dtmf",
        )
        if isinstance(node, MenuNode):
            target = self._menu_choice(node, call.language, digits, speech)
            if target is not None:
                return self._run(session, call, flow_name, target)
        elif isinstance(node, LanguageNode):
            language = node.options.get(digits[:1]) if digits else None
            if language is not None:
                self._set_language(session, call, language, flow_name, node_name)
                call.context = {**call.context, "language_chosen": True}
                _remember_language(session, call)
                return self._run(session, call, flow_name, node.next)
        elif isinstance(node, InputNode):
            value = digits.rstrip("#*") if digits else digits_from_speech(speech)
            if self._valid_input(node, value):
                call.context = {**call.context, "vars": {**self._vars(call), node.save_as: value}}
                return self._run(session, call, flow_name, node.next)
        elif isinstance(node, KnowledgeNode):
            said = speech.casefold()
            wants_agent = (
                digits[:1] == "1"
                or digits_from_speech(speech)[:1] == "1"
                or any(word in said for word in AGENT_WORDS)
            )
            return self._run(session, call, flow_name, node.agent if wants_agent else node.next)
        else:
            return self._run(session, call, flow_name, node_name)
        return self._retry(session, call, flow_name, node_name, node, attempt, bool(given))

    def after_dial(
        self, session: Session, call: Call, flow_name: str, node_name: str, status: str
    ) -> list[Action]:
        """Continue after a transfer: done when answered, else the node's on_fail."""
        log_event(
            session, call.call_sid, "ivr.transfer_result", flow=flow_name, node=node_name,
            status=status,
        )  # fmt: skip
        if status == "completed":
            call.outcome = "transferred"
            return [Hangup()]
        node = self.flows.node(flow_name, node_name)
        if not isinstance(node, TransferNode):
            return self.apology(call.language)
        return self._run(session, call, flow_name, node.on_fail)

    def apology(self, language: str) -> list[Action]:
        """What a caller hears when something went wrong: an apology and voicemail."""
        mailbox = self.settings.fallback_mailbox
        text = localized(dict(self.settings.apology), language, self.settings.default_language)
        return [
            Speak(text or "", language),
            Record(mailbox, self._max_length(mailbox), language),
        ]

    # -- the walk ---------------------------------------------------------------------

    def _entry_node(self, flow: Flow) -> str:
        """Where a call enters a flow: its start, or its closed node outside its hours."""
        hours = self.settings.hours.get(flow.hours) if flow.hours else None
        if hours is not None and flow.closed and not is_open(hours, self.clock()):
            return flow.closed
        return flow.start

    def _run(self, session: Session, call: Call, flow_name: str, node_name: str) -> list[Action]:
        actions: list[Action] = []
        for _ in range(MAX_NODES_PER_STEP):
            flow = self.flows.get(flow_name)
            node = flow.nodes[node_name]
            call.flow, call.node = flow_name, node_name
            log_event(session, call.call_sid, "ivr.node", flow=flow_name, node=node_name,
                      node_kind=node.kind)  # fmt: skip
            language = call.language

            if isinstance(node, MessageNode):
                if node.say is not None:
                    actions.extend(self._speak(call, flow, node.say))
                if node.play is not None:
                    actions.append(PlayAudio(node.play))
                if node.pause:
                    actions.append(Silence(node.pause))
                node_name = node.next
            elif (
                isinstance(node, LanguageNode) and node.skip_if_known and self._language_known(call)
            ):
                node_name = node.next
            elif isinstance(node, Prompting):
                actions.append(self._gather(call, flow, node_name, node, 1, ()))
                return actions
            elif isinstance(node, KnowledgeNode):
                gather = self._knowledge(session, call, flow, node_name, node)
                if gather is None:
                    node_name = node.agent  # nothing to read: straight to a person
                    continue
                actions.append(gather)
                return actions
            elif isinstance(node, LookupNode):
                customer = self._lookup(session, call, node)
                log_event(session, call.call_sid, "ivr.lookup", flow=flow_name, node=node_name,
                          found=customer is not None, by=node.by)  # fmt: skip
                node_name = node.found if customer is not None else node.not_found
            elif isinstance(node, BranchNode):
                node_name = self._branch(call, flow, node)
            elif isinstance(node, QueueNode):
                return actions + self._enqueue(session, call, flow, node)
            elif isinstance(node, VoicemailNode):
                actions.extend(self._speak(call, flow, node.say))
                goodbye = localized(node.goodbye, language, flow.languages[0])
                max_length = node.max_length or self._max_length(node.mailbox)
                actions.append(Record(node.mailbox, max_length, language, goodbye))
                return actions
            elif isinstance(node, TransferNode):
                if node.say is not None:
                    actions.extend(self._speak(call, flow, node.say))
                actions.append(Dial(flow_name, node_name, node.number, node.timeout))
                return actions
            elif isinstance(node, HangupNode):
                if node.say is not None:
                    actions.extend(self._speak(call, flow, node.say))
                call.outcome = call.outcome or "ivr-hangup"
                actions.append(Hangup())
                return actions
            elif isinstance(node, GotoNode):
                target = self.flows.get(node.flow)
                flow_name, node_name = target.flow, node.node or self._entry_node(target)
            else:  # pragma: no cover - the schema admits no other kinds
                raise TypeError(f"unknown node {node!r}")
        log_event(session, call.call_sid, "ivr.loop_guard", flow=flow_name, node=node_name)
        return actions + self.apology(call.language)

    # -- node helpers -------------------------------------------------------------------

    def _speak(self, call: Call, flow: Flow, text: LocalizedText) -> list[Speak]:
        """The text in the call's language; a placeholder value in another script (a Chinese
        name in an English prompt) is said apart, by a flow language's voice that can."""
        # A flow without the caller's language speaks its first language, in that voice.
        language = call.language if call.language in flow.languages else flow.languages[0]
        chosen = localized(text, language, flow.languages[0]) or ""
        if "{" not in chosen:
            return [Speak(chosen, language)]
        parts: list[tuple[str, str]] = []
        for segment, is_value in render_segments(chosen, call):
            voice = voice_for(segment, language, flow.languages) if is_value else language
            if voice is None:
                continue  # no voice of this flow can say it: leave it out
            if parts and parts[-1][1] == voice:
                parts[-1] = (parts[-1][0] + segment, voice)
            else:
                parts.append((segment, voice))
        spoken = [Speak(part.strip(), voice, True) for part, voice in parts if part.strip()]
        return spoken or [Speak("", language, True)]

    def _gather(
        self,
        call: Call,
        flow: Flow,
        node_name: str,
        node: Prompting,
        attempt: int,
        before: tuple[Prompt, ...],
    ) -> Gather:
        if isinstance(node, LanguageNode) and isinstance(node.prompt, dict):
            # Each language's offer in its own voice: "For English, press 1. 中文服务请按2。"
            offers = tuple(
                Speak(node.prompt[language], language)
                for language in dict.fromkeys(node.options.values())
                if node.prompt.get(language)
            )
            prompts: tuple[Prompt, ...] = (*before, *offers)
        else:
            prompts = (*before, *self._speak(call, flow, node.prompt))
        if isinstance(node, InputNode):
            fixed = node.digits.min == node.digits.max
            return Gather(
                flow.flow, node_name, attempt, prompts, call.language,
                input=("dtmf",), timeout=node.timeout,
                num_digits=node.digits.max if fixed else None,
                finish_on_key=node.finish_on_key,
            )  # fmt: skip
        if isinstance(node, MenuNode):
            return Gather(
                flow.flow, node_name, attempt, prompts, call.language,
                input=tuple(node.input), timeout=node.timeout, num_digits=1,
                hints=tuple(self._keywords(node, call.language)),
            )  # fmt: skip
        return Gather(flow.flow, node_name, attempt, prompts, call.language,
                      timeout=node.timeout, num_digits=1)  # fmt: skip

    def _knowledge(
        self, session: Session, call: Call, flow: Flow, node_name: str, node: KnowledgeNode
    ) -> Gather | None:
        """Read the article's summary and offer an agent; None when the article is missing."""
        article_id = node.article_for(call.language, flow.languages[0])
        article = session.get(KbArticle, article_id) if article_id else None
        if article is None:
            log_event(session, call.call_sid, "ivr.knowledge_missing", flow=flow.flow,
                      node=node_name, article=article_id)  # fmt: skip
            return None
        record_lookup(session, action="open", source="ivr", call_sid=call.call_sid,
                      article_id=article.id, node=f"{flow.flow}.{node_name}")  # fmt: skip
        prompts: list[Prompt] = []
        if node.say is not None:
            prompts.extend(self._speak(call, flow, node.say))
        voice = article.language if article.language in flow.languages else call.language
        prompts.append(Speak(article.summary, voice))
        offer = localized(dict(self.settings.knowledge_offer), call.language,
                          self.settings.default_language)  # fmt: skip
        if offer:
            prompts.append(Speak(offer, call.language))
        return Gather(flow.flow, node_name, 1, tuple(prompts), call.language,
                      input=("dtmf", "speech"), timeout=node.timeout, num_digits=1)  # fmt: skip

    def _retry(
        self,
        session: Session,
        call: Call,
        flow_name: str,
        node_name: str,
        node: Prompting,
        attempt: int,
        had_input: bool,
    ) -> list[Action]:
        flow = self.flows.get(flow_name)
        if attempt > node.retries:
            log_event(session, call.call_sid, "ivr.retries_exhausted", flow=flow_name,
                      node=node_name, attempts=attempt)  # fmt: skip
            if isinstance(node, LanguageNode):
                self._set_language(
                    session, call, self.settings.default_language, flow_name, node_name
                )
                return self._run(session, call, flow_name, node.next)
            return self._run(session, call, flow_name, node.fallback)  # type: ignore[attr-defined]
        notice = node.invalid if had_input else node.no_input
        before = tuple(self._speak(call, flow, notice)) if notice is not None else ()
        return [self._gather(call, flow, node_name, node, attempt + 1, before)]

    def _menu_choice(self, node: MenuNode, language: str, digits: str, speech: str) -> str | None:
        if digits:
            option = node.options.get(digits[:1])
            return option.goto if option else None
        if speech and "speech" in node.input:
            said = speech.casefold()
            for option in node.options.values():
                words = option.keywords
                candidates = words if isinstance(words, list) else words.get(language, [])
                if any(word.casefold() in said for word in candidates):
                    return option.goto
        return None

    @staticmethod
    def _keywords(node: MenuNode, language: str) -> list[str]:
        found: list[str] = []
        for option in node.options.values():
            words = option.keywords
            found.extend(words if isinstance(words, list) else words.get(language, []))
        return found

    @staticmethod
    def _valid_input(node: InputNode, value: str) -> bool:
        if not value.isdigit() or not node.digits.min <= len(value) <= node.digits.max:
            return False
        return node.pattern is None or re.fullmatch(node.pattern, value) is not None

    @staticmethod
    def _vars(call: Call) -> dict[str, str]:
        return dict((call.context or {}).get("vars", {}))

    @staticmethod
    def _language_known(call: Call) -> bool:
        return bool((call.context or {}).get("language_known"))

    def _set_language(
        self, session: Session, call: Call, language: str, flow_name: str, node_name: str
    ) -> None:
        call.language = language
        call.context = {**call.context, "language_known": True}
        log_event(session, call.call_sid, "ivr.language", flow=flow_name, node=node_name,
                  language=language)  # fmt: skip

    def _lookup(self, session: Session, call: Call, node: LookupNode) -> Customer | None:
        customer: Customer | None = None
        if node.by == "caller_number":
            # open_call already looked the number up; only a call opened elsewhere needs it.
            customer = call.customer
            if customer is None and call.caller_number and not call.context.get("looked_up"):
                customer = find_customer_by_number(session, call.caller_number)
        else:
            code = self._vars(call).get(node.account_var or "")
            if code:
                customer = find_customer_by_account(session, code) or find_customer_by_keypad_code(
                    session, code
                )
        if customer is not None and call.customer_id != customer.id:
            call.customer = customer
            if customer.language and not self._language_known(call):
                call.language = customer.language
                call.context = {**call.context, "language_known": True}
            _remember_language(session, call)  # a choice made before they were known
        return customer

    def _branch(self, call: Call, flow: Flow, node: BranchNode) -> str:
        for rule in node.rules:
            if self._holds(call, rule.when):
                return rule.goto
        return node.otherwise

    def _holds(self, call: Call, when: Condition) -> bool:
        now = self.clock()
        if when.open is not None:
            return is_open(self.settings.hours[when.open], now)
        if when.closed is not None:
            return not is_open(self.settings.hours[when.closed], now)
        if when.holiday is not None:
            return is_holiday(self.settings.hours[when.holiday], now)
        if when.tier is not None:
            return call.customer is not None and call.customer.tier == when.tier
        if when.language is not None:
            return call.language == when.language
        if when.known_caller is not None:
            return (call.customer is not None) == when.known_caller
        value = self._vars(call).get(when.var or "")
        if when.present is not None:
            return (value is not None) == when.present
        return value == when.equals

    def _enqueue(self, session: Session, call: Call, flow: Flow, node: QueueNode) -> list[Action]:
        actions: list[Action] = []
        queue = self.settings.queues[node.queue]
        if queue.hours and not is_open(self.settings.hours[queue.hours], self.clock()):
            log_event(session, call.call_sid, "queue.closed", flow=flow.flow, node=call.node,
                      queue=node.queue)  # fmt: skip
            mailbox = queue.overflow_mailbox or self.settings.fallback_mailbox
            closed = localized(queue.closed_message, call.language, self.settings.default_language)
            if closed:
                actions.append(Speak(closed, call.language))
            actions.append(Record(mailbox, self._max_length(mailbox), call.language))
            return actions
        if node.say is not None:
            actions.extend(self._speak(call, flow, node.say))
        vip = call.customer is not None and call.customer.tier == "vip"
        call.queue = node.queue
        call.queue_priority = node.priority + (node.vip_priority if vip else 0)
        call.enqueued_at = self.clock()
        call.outcome = "queued"
        log_event(session, call.call_sid, "queue.entered", flow=flow.flow, node=call.node,
                  queue=node.queue, priority=call.queue_priority, vip=vip)  # fmt: skip
        actions.append(Enqueue(node.queue, call.language))
        return actions

    def _max_length(self, mailbox: str) -> int:
        config = self.settings.mailboxes.get(mailbox)
        return config.max_length if config else 120


def _remember_language(session: Session, call: Call) -> None:
    """A known caller who chose a language in the IVR: it becomes their preference (the
    language node is skipped for them next time), logged on the call."""
    customer = call.customer
    chosen = (call.context or {}).get("language_chosen")
    if customer is None or not chosen or customer.language == call.language:
        return
    log_event(session, call.call_sid, "customer.language", customer=customer.id,
              old=customer.language, new=call.language)  # fmt: skip
    customer.language = call.language
