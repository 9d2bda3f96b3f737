"""The shipped IVR flows (ivr_flows/main.yaml, ivr_flows/repairs.yaml) end to end.

Every test places a simulated call through the in-process app: real webhooks signed as
Twilio signs them, the TwiML answers followed verb by verb. We check what the caller heard
(the exact texts of the YAML and config.yaml), what they did, where the call ended, and the
call's record and event log in the database afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ACCOUNT_SID, PUBLIC_URL, Clock, sync_knowledge_base
from flask import Flask
from sqlalchemy import select

from callcenter.knowledge.models import KbLookup
from callcenter.models import Call, CallEvent, Customer, RecordingDownload, Voicemail
from callcenter.people.customers import import_customers_csv
from callcenter.simulator.leg.events import CallResult

ROOT = Path(__file__).resolve().parent.parent


def _load(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


MAIN = _load("ivr_flows/main.yaml")["nodes"]
REPAIRS = _load("ivr_flows/repairs.yaml")["nodes"]
CONFIG = _load("config.yaml")

UNKNOWN = "+8613900139000"  # not in demo/customers.csv
WANG_WEI = "+8613800138000"  # 王伟: VIP, zh-CN, ACME-1001
EMILY = "+12125550147"  # Emily Johnson: normal, en, no account code
HOTLINE = "+864008001234"

EN_VOICE = {"language": "en-US", "voice": "Polly.Joanna"}
ZH_VOICE = {"language": "cmn-CN", "voice": "Polly.Zhiyu"}


def spoken(text: str) -> str:
    """A YAML text as the caller hears it (folded lines, whitespace collapsed)."""
    return " ".join(text.split())


def main(node: str, field: str = "say", language: str = "en") -> str:
    return spoken(MAIN[node][field][language])


def repairs(node: str, field: str = "say", language: str = "en") -> str:
    return spoken(REPAIRS[node][field][language])


def message(key: str, language: str = "en", **values: object) -> str:
    text = spoken(CONFIG["messages"][key][language])
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def hold(queue: str, language: str = "en") -> str:
    return spoken(CONFIG["queues"][queue]["hold_message"][language])


OFFER_EN = main("choose_language", "prompt", "en")
OFFER_ZH = main("choose_language", "prompt", "zh-CN")
MAIN_MENU = main("main_menu", "prompt")
MAIN_MENU_ZH = main("main_menu", "prompt", "zh-CN")
WELCOME = main("welcome")
REPAIRS_MENU = repairs("repairs_menu", "prompt")
SUPPORT_HOLD = main("support_queue")


# -- helpers ----------------------------------------------------------------------------


@pytest.fixture
def customers(app: Flask) -> None:
    """The demo customers, imported the way `callcenter customers import` does."""
    with app.extensions["callcenter"].database.session() as session:
        report = import_customers_csv(session, ROOT / "demo" / "customers.csv")
    assert report.created == 40


def the_call(app: Flask, result: CallResult) -> Call:
    with app.extensions["callcenter"].database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == result.call_sid))
        assert call is not None
        session.expunge(call)
        return call


def events(app: Flask, result: CallResult) -> list[CallEvent]:
    with app.extensions["callcenter"].database.session() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.call_sid == result.call_sid).order_by(CallEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def node_path(app: Flask, result: CallResult) -> list[str]:
    """The `flow.node` of every ivr.node event, in order."""
    return [f"{e.flow}.{e.node}" for e in events(app, result) if e.kind == "ivr.node"]


def inputs(app: Flask, result: CallResult) -> list[tuple[str, str | None, int, str]]:
    """(node, input, attempt, via) of every ivr.input / ivr.no_input event."""
    return [
        (f"{e.flow}.{e.node}", e.input, e.detail["attempt"], e.detail["via"])
        for e in events(app, result)
        if e.kind in ("ivr.input", "ivr.no_input")
    ]


def kinds(app: Flask, result: CallResult) -> list[str]:
    return [e.kind for e in events(app, result)]


def customer_id(app: Flask, phone_number: str) -> int:
    with app.extensions["callcenter"].database.session() as session:
        customer = session.scalar(select(Customer).where(Customer.phones.any(number=phone_number)))
        assert customer is not None
        return customer.id


def pressed(result: CallResult) -> list[str]:
    return [e.text for e in result.events if e.kind == "input"]


ENGLISH_START = [OFFER_EN, OFFER_ZH, WELCOME, MAIN_MENU]
ENGLISH_START_PATH = [
    "main.identify",
    "main.choose_language",
    "main.greet",
    "main.welcome",
    "main.hours_check",
    "main.main_menu",
]

Phone = Callable[..., CallResult]


# -- message, branch ----------------------------------------------------------------------


def test_unknown_caller_hears_the_welcome_and_the_main_menu(app: Flask, phone: Phone) -> None:
    result = phone(from_=UNKNOWN, to=HOTLINE, inputs=["1", "0"], hold_seconds=10)

    assert result.heard()[:4] == ENGLISH_START
    assert WELCOME == (
        "Welcome to Lumina Electronics after-sales service. Calls may be recorded for quality."
    )
    assert pressed(result) == ["1", "0"]
    assert node_path(app, result) == [*ENGLISH_START_PATH, "main.support_queue"]
    call = the_call(app, result)
    assert (call.flow, call.node, call.language, call.customer_id) == (
        "main",
        "support_queue",
        "en",
        None,
    )
    assert call.caller_number == UNKNOWN
    assert call.to_number == HOTLINE
    lookup = next(e for e in events(app, result) if e.kind == "ivr.lookup")
    assert (lookup.node, lookup.detail) == ("identify", {"found": False, "by": "caller_number"})


def test_known_english_caller_is_greeted_by_name(app: Flask, phone: Phone, customers: None) -> None:
    result = phone(from_=EMILY, inputs=["0"], hold_seconds=5)

    greeting = "Hello Emily Johnson, welcome back to Lumina Electronics after-sales service."
    assert result.heard()[:2] == [greeting, MAIN_MENU]
    assert result.events[0].kind == "say"
    assert result.events[0].details["language"] == "en-US"
    # No language choice: her preference (en) is on file; a normal tier skips the VIP menu.
    assert OFFER_EN not in result.heard()
    assert node_path(app, result) == [
        "main.identify",
        "main.choose_language",
        "main.greet",
        "main.welcome_back",
        "main.vip_check",
        "main.hours_check",
        "main.main_menu",
        "main.support_queue",
    ]
    call = the_call(app, result)
    assert call.customer_id == customer_id(app, EMILY)
    assert call.language == "en"
    assert call.queue_priority == 10
    lookup = next(e for e in events(app, result) if e.kind == "ivr.lookup")
    assert lookup.detail == {"found": True, "by": "caller_number"}


def test_known_chinese_vip_skips_the_language_choice_and_gets_the_vip_menu(
    app: Flask, phone: Phone, customers: None
) -> None:
    result = phone(from_=WANG_WEI, inputs=["1"], hold_seconds=5)

    heard = result.heard()
    assert heard[0] == "王伟，您好！欢迎再次致电流明电子售后服务热线。"
    assert heard[1] == main("vip_menu", "prompt", "zh-CN")
    assert heard[2] == main("vip_queue", "say", "zh-CN")
    assert OFFER_EN not in heard and OFFER_ZH not in heard
    first = result.events[0]
    assert (first.kind, first.details["language"], first.details["voice"]) == (
        "say",
        "cmn-CN",
        "Polly.Zhiyu",
    )
    assert node_path(app, result) == [
        "main.identify",
        "main.choose_language",
        "main.greet",
        "main.welcome_back",
        "main.vip_check",
        "main.vip_menu",
        "main.vip_queue",
    ]
    call = the_call(app, result)
    assert call.language == "zh-CN"
    assert call.customer_id == customer_id(app, WANG_WEI)
    assert call.queue == "vip"
    assert call.queue_priority == 100  # vip_queue: priority 50 + vip_priority 50
    # The queue speaks Chinese too: the waitUrl carries the caller's language.
    assert message("queue_position", "zh-CN", position=1) in heard
    assert hold("vip", "zh-CN") in heard


def test_after_hours_callers_hear_the_hours_then_leave_a_message(
    app: Flask, phone: Phone, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday 23:00 in Shanghai
    result = phone(inputs=["1"], record_seconds=4)

    assert result.heard() == [
        OFFER_EN,
        OFFER_ZH,
        WELCOME,
        "Our service hours are nine a.m. to nine p.m. on weekdays and ten a.m. to six p.m. "
        "at weekends, China time.",
        main("after_hours_message"),
        message("voicemail_saved"),
    ]
    assert MAIN_MENU not in result.heard()
    assert [e.kind for e in result.events if e.kind in ("record", "hangup")] == [
        "record",
        "hangup",
    ]
    assert node_path(app, result) == [
        "main.identify",
        "main.choose_language",
        "main.greet",
        "main.welcome",
        "main.hours_check",
        "main.after_hours",
        "main.after_hours_message",
    ]
    call = the_call(app, result)
    assert (call.node, call.outcome) == ("after_hours_message", "voicemail")
    with app.extensions["callcenter"].database.session() as session:
        voicemail = session.scalars(select(Voicemail)).one()
        assert (voicemail.mailbox, voicemail.duration_seconds) == ("support", 4)


def test_on_a_public_holiday_callers_hear_the_holiday_message(
    app: Flask, phone: Phone, clock: Clock
) -> None:
    clock.now = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # 1 October, 11:00 in Shanghai
    result = phone(inputs=["2"], record_seconds=3)

    assert result.heard() == [
        OFFER_EN,
        OFFER_ZH,
        main("welcome", "say", "zh-CN"),
        "今天是法定节假日，服务中心休息。",
        main("after_hours_message", "say", "zh-CN"),
        message("voicemail_saved", "zh-CN"),
    ]
    path = node_path(app, result)
    assert path[-3:] == ["main.hours_check", "main.holiday_closed", "main.after_hours_message"]
    assert "main.after_hours" not in path
    assert the_call(app, result).language == "zh-CN"


# -- language -------------------------------------------------------------------------------


def test_language_offers_are_spoken_each_in_its_own_voice(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "0"], hold_seconds=5)

    offers = result.events[:2]
    assert [(e.kind, e.text) for e in offers] == [
        ("say", "For English, press 1."),
        ("say", "中文服务请按2。"),
    ]
    assert offers[0].details["language"] == EN_VOICE["language"]
    assert offers[0].details["voice"] == EN_VOICE["voice"]
    assert offers[1].details["language"] == ZH_VOICE["language"]
    assert offers[1].details["voice"] == ZH_VOICE["voice"]
    assert inputs(app, result)[0] == ("main.choose_language", "1", 1, "dtmf")
    chosen = next(e for e in events(app, result) if e.kind == "ivr.language")
    assert chosen.detail == {"language": "en"}


def test_pressing_2_switches_the_call_to_chinese(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["2", "0"], hold_seconds=5)

    heard = result.heard()
    assert heard[:5] == [
        OFFER_EN,
        OFFER_ZH,
        "欢迎致电流明电子售后服务热线。为保证服务质量，您的通话可能会被录音。",
        MAIN_MENU_ZH,
        "请稍候，正在为您转接客服人员。",
    ]
    after_choice = [e for e in result.events if e.kind == "say"][2:]
    assert {(e.details["language"], e.details["voice"]) for e in after_choice} == {
        ("cmn-CN", "Polly.Zhiyu")
    }
    assert message("queue_position", "zh-CN", position=1) in heard
    # Speech recognition of the Chinese menu listens for Mandarin, with Chinese hints.
    menu_twiml = next(
        x.body for x in result.exchanges if "node=choose_language" in x.url and x.body
    )
    assert 'language="zh-CN"' in menu_twiml
    assert "维修" in menu_twiml
    assert the_call(app, result).language == "zh-CN"


def test_no_language_choice_falls_back_to_the_default_language(app: Flask, phone: Phone) -> None:
    result = phone(inputs=[], hold_seconds=5)

    heard = result.heard()
    # retries: 1 → offered twice, then English (default_language in config.yaml).
    assert heard[:5] == [OFFER_EN, OFFER_ZH, OFFER_EN, OFFER_ZH, WELCOME]
    assert inputs(app, result)[:2] == [
        ("main.choose_language", None, 1, "dtmf"),
        ("main.choose_language", None, 2, "dtmf"),
    ]
    log = kinds(app, result)
    exhausted = log.index("ivr.retries_exhausted")
    assert log[exhausted + 1] == "ivr.language"
    chosen = next(e for e in events(app, result) if e.kind == "ivr.language")
    assert chosen.detail == {"language": "en"}
    assert the_call(app, result).language == "en"


# -- menu -----------------------------------------------------------------------------------


def test_main_menu_dtmf_choice_1_goes_to_the_repairs_flow(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "1", "2"], hold_seconds=5)

    assert result.heard()[:6] == [
        *ENGLISH_START,
        REPAIRS_MENU,
        repairs("book_repair"),
    ]
    path = node_path(app, result)
    assert path[5:8] == ["main.main_menu", "main.to_repairs", "repairs.repairs_menu"]
    call = the_call(app, result)
    assert call.flow == "repairs"


def test_main_menu_understands_english_speech(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "I need a repair", "2"], hold_seconds=5)

    speech = [e for e in result.events if e.kind == "input"][1]
    assert (speech.text, speech.details["type"]) == ("I need a repair", "speech")
    assert result.heard()[4] == REPAIRS_MENU
    assert inputs(app, result)[1] == ("main.main_menu", "I need a repair", 1, "speech")
    assert "repairs.repairs_menu" in node_path(app, result)
    assert result.heard()[5] == repairs("book_repair")


WARRANTY_SUMMARY_EN = (
    "Every Lumina product comes with a two-year warranty from the date of purchase, "
    "covering defects in materials and workmanship."
)
WARRANTY_SUMMARY_ZH = "流明电子全线产品自购买之日起享受两年保修，涵盖材料和工艺缺陷。"


def test_main_menu_understands_chinese_speech(app: Flask, phone: Phone) -> None:
    sync_knowledge_base(app)
    result = phone(inputs=["2", "我要维修", "3", "2"])

    assert result.heard() == [
        OFFER_EN,
        OFFER_ZH,
        main("welcome", "say", "zh-CN"),
        MAIN_MENU_ZH,
        "查询维修进度请按1；预约维修请按2；保修政策请按3；返回主菜单请按9。",
        WARRANTY_SUMMARY_ZH,
        "人工服务请按1。",
        "感谢致电流明电子，再见。",
    ]
    assert inputs(app, result)[1] == ("main.main_menu", "我要维修", 1, "speech")
    call = the_call(app, result)
    assert (call.flow, call.node, call.outcome) == ("repairs", "goodbye", "ivr-hangup")


def test_invalid_key_is_refused_then_a_valid_one_accepted(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "7", "0"], hold_seconds=5)

    assert result.heard()[3:7] == [
        MAIN_MENU,
        "Sorry, that is not one of the choices.",
        MAIN_MENU,
        SUPPORT_HOLD,
    ]
    assert inputs(app, result)[1:] == [
        ("main.main_menu", "7", 1, "dtmf"),
        ("main.main_menu", "0", 2, "dtmf"),
    ]
    assert "ivr.retries_exhausted" not in kinds(app, result)
    assert the_call(app, result).queue == "support"


def test_no_input_at_the_main_menu_falls_back_to_the_support_queue(
    app: Flask, phone: Phone
) -> None:
    result = phone(inputs=["1"], hold_seconds=5)

    no_input = "Sorry, we did not hear your choice."
    assert result.heard()[3:10] == [
        MAIN_MENU,
        no_input,
        MAIN_MENU,
        no_input,
        MAIN_MENU,
        SUPPORT_HOLD,
        message("queue_position", position=1),
    ]
    assert [e.kind for e in result.events].count("timeout") == 3  # retries: 2
    assert inputs(app, result)[1:] == [
        ("main.main_menu", None, 1, "dtmf"),
        ("main.main_menu", None, 2, "dtmf"),
        ("main.main_menu", None, 3, "dtmf"),
    ]
    exhausted = next(e for e in events(app, result) if e.kind == "ivr.retries_exhausted")
    assert (exhausted.node, exhausted.detail) == ("main_menu", {"attempts": 3})
    call = the_call(app, result)
    assert (call.node, call.queue, call.queue_priority) == ("support_queue", "support", 10)


# -- input ----------------------------------------------------------------------------------


def test_order_number_is_read_back_digit_by_digit(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "2", "12345678"], hold_seconds=5)

    assert result.heard()[4:7] == [
        "Please enter your eight digit order number, followed by the pound key.",
        "Thank you. An agent will help you with order 1 2 3 4 5 6 7 8.",
        SUPPORT_HOLD,
    ]
    assert inputs(app, result)[2] == ("main.order_number", "12345678", 1, "dtmf")
    call = the_call(app, result)
    assert call.context["vars"] == {"order_number": "12345678"}
    assert call.queue == "support"
    assert node_path(app, result)[-3:] == [
        "main.order_number",
        "main.order_received",
        "main.support_queue",
    ]


def test_order_number_of_the_wrong_length_is_asked_again(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "2", "1234#", "12345678#"], hold_seconds=5)

    prompt = main("order_number", "prompt")
    assert result.heard()[4:8] == [
        prompt,
        "That order number does not look right.",
        prompt,
        "Thank you. An agent will help you with order 1 2 3 4 5 6 7 8.",
    ]
    assert pressed(result) == ["1", "2", "1234#", "12345678#"]
    assert inputs(app, result)[2:] == [
        ("main.order_number", "1234", 1, "dtmf"),
        ("main.order_number", "12345678", 2, "dtmf"),
    ]
    # The Gather asks for exactly 8 keys and stops at the pound key.
    gather = next(x.body for x in result.exchanges if "node=main_menu" in x.url and x.body)
    assert 'numDigits="8"' in gather and 'finishOnKey="#"' in gather
    assert the_call(app, result).context["vars"]["order_number"] == "12345678"


def test_order_number_followed_by_the_finish_key(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "2", "87654321#"], hold_seconds=5)

    assert "Thank you. An agent will help you with order 8 7 6 5 4 3 2 1." in result.heard()
    assert inputs(app, result)[2] == ("main.order_number", "87654321", 1, "dtmf")


def test_repair_ticket_must_match_its_pattern(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "1", "1", "3012345678", "2012345678"], hold_seconds=5)

    prompt = repairs("repair_ticket", "prompt")
    assert result.heard()[5:10] == [
        prompt,
        "That repair ticket number is not valid. Ticket numbers start with 19 or 20.",
        prompt,
        "Thank you. A repair specialist will look up ticket 2 0 1 2 3 4 5 6 7 8.",
        repairs("repairs_queue"),
    ]
    assert inputs(app, result)[3:] == [
        ("repairs.repair_ticket", "3012345678", 1, "dtmf"),
        ("repairs.repair_ticket", "2012345678", 2, "dtmf"),
    ]
    call = the_call(app, result)
    assert call.context["vars"] == {"repair_ticket": "2012345678"}
    assert (call.flow, call.queue, call.queue_priority) == ("repairs", "repairs", 10)


# -- lookup ---------------------------------------------------------------------------------


def test_keypad_account_code_finds_the_customer(app: Flask, phone: Phone, customers: None) -> None:
    result = phone(from_=UNKNOWN, inputs=["1", "3", "1001#"], hold_seconds=5)

    assert result.heard()[4:9] == [
        "Please enter your customer number, followed by the pound key.",
        "Thank you,",
        "王伟",
        ". We have found your account.",
        SUPPORT_HOLD,
    ]
    # The English prompt is said by the English voice, the Chinese name by the Chinese one.
    says = [(e.text, e.details.get("voice")) for e in result.events if e.kind == "say"]
    assert ("Thank you,", "Polly.Joanna") in says
    assert ("王伟", "Polly.Zhiyu") in says
    assert (". We have found your account.", "Polly.Joanna") in says
    lookups = [e for e in events(app, result) if e.kind == "ivr.lookup"]
    assert [(e.node, e.detail) for e in lookups] == [
        ("identify", {"found": False, "by": "caller_number"}),
        ("find_account", {"found": True, "by": "account_code"}),
    ]
    call = the_call(app, result)
    assert call.customer_id == customer_id(app, WANG_WEI)
    assert call.language == "en"  # the caller chose English; the customer's zh-CN doesn't override
    assert call.context["vars"] == {"customer_number": "1001"}
    # Identified as a VIP now: ahead of normal callers in the support queue.
    assert call.queue_priority == 60


def test_unknown_account_code_is_handed_to_an_agent(
    app: Flask, phone: Phone, customers: None
) -> None:
    result = phone(from_=UNKNOWN, inputs=["1", "3", "9999#"], hold_seconds=5)

    assert result.heard()[5:7] == [
        "We could not find that customer number. An agent will help you.",
        SUPPORT_HOLD,
    ]
    assert node_path(app, result)[-3:] == [
        "main.find_account",
        "main.account_unknown",
        "main.support_queue",
    ]
    call = the_call(app, result)
    assert call.customer_id is None
    assert call.queue_priority == 10


# -- queue ----------------------------------------------------------------------------------


def test_queue_announces_the_position_and_the_hold_message(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "0"], hold_seconds=45)

    enqueue = next(e for e in result.events if e.kind == "enqueue")
    assert enqueue.text == "support"
    after = result.heard()[result.heard().index(SUPPORT_HOLD) + 1 :]
    assert after[:2] == ["You are number 1 in line.", hold("support")]
    waits = [x for x in result.exchanges if "/twilio/queue/wait" in x.url]
    assert len(waits) >= 2  # the waitUrl is fetched again while the caller holds
    assert all(x.status == 200 for x in waits)
    assert all("queue=support" in x.url and "lang=en" in x.url for x in waits)
    assert "<Pause" in waits[0].body
    assert next(e for e in events(app, result) if e.kind == "queue.entered").detail == {
        "queue": "support",
        "priority": 10,
        "vip": False,
    }


def test_vip_in_the_support_queue_is_prioritised(app: Flask, phone: Phone, customers: None) -> None:
    vip = phone(from_=WANG_WEI, inputs=["2", "0"], hold_seconds=5)
    normal = phone(from_=EMILY, inputs=["0"], hold_seconds=5)

    assert vip.heard()[:3] == [
        "王伟，您好！欢迎再次致电流明电子售后服务热线。",
        main("vip_menu", "prompt", "zh-CN"),
        MAIN_MENU_ZH,
    ]
    vip_call, normal_call = the_call(app, vip), the_call(app, normal)
    assert (vip_call.queue, vip_call.queue_priority) == ("support", 60)
    assert (normal_call.queue, normal_call.queue_priority) == ("support", 10)
    entered = next(e for e in events(app, vip) if e.kind == "queue.entered")
    assert entered.detail == {"queue": "support", "priority": 60, "vip": True}


def test_hanging_up_in_the_queue_is_an_abandoned_call(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "0"], hold_seconds=45)

    assert result.ended == "hung up in queue support after 45s"
    assert result.events[-2].kind == "hangup"
    call = the_call(app, result)
    assert call.outcome == "abandoned"
    assert call.queue == "support"
    assert call.queue_wait_seconds is not None
    assert abs(call.queue_wait_seconds - 45) <= 1
    assert call.enqueued_at is not None and call.dequeued_at is not None
    assert call.status == "completed"
    left = next(e for e in events(app, result) if e.kind == "queue.left")
    assert left.detail["result"] == "hangup"
    # The caller waited past the short-abandon threshold: a follow-up is opened at the end.
    assert kinds(app, result)[-2:] == ["call.ended", "followup.opened"]


# -- voicemail ------------------------------------------------------------------------------


def test_menu_4_records_a_voicemail(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "4"], record_seconds=7)

    assert result.heard()[4:] == [
        "Please leave your name, number and message after the tone. "
        "Press the pound key when you are done.",
        "Thank you, your message has been saved. Goodbye.",
    ]
    assert len(result.recordings) == 1
    sid = result.recordings[0]
    record = next(e for e in result.events if e.kind == "record")
    assert record.details["duration"] == 7
    assert record.details["beep"] is True
    # The simulator keeps the audio it uploaded, as Twilio would.
    store = app.extensions["callcenter"].extras["simulator_recordings"]
    stored = store.get(sid)
    assert stored is not None and stored[1]["duration"] == 7
    callback = next(x for x in result.exchanges if "/twilio/recording" in x.url)
    assert callback.status == 204

    with app.extensions["callcenter"].database.session() as session:
        voicemail = session.scalars(select(Voicemail)).one()
        assert (voicemail.mailbox, voicemail.call_sid, voicemail.recording_sid) == (
            "support",
            result.call_sid,
            sid,
        )
        assert (voicemail.duration_seconds, voicemail.from_number) == (7, UNKNOWN)
        job = session.scalars(select(RecordingDownload)).one()
        assert (job.recording_sid, job.status, job.attempts, job.expected_duration) == (
            sid,
            "pending",
            0,
            7,
        )
        assert job.source_url == (
            f"{PUBLIC_URL}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
        )
    call = the_call(app, result)
    assert (call.node, call.outcome) == ("leave_message", "voicemail")
    log = kinds(app, result)
    assert log.index("voicemail.recorded") < log.index("voicemail.stored")


# -- transfer -------------------------------------------------------------------------------


def test_unanswered_transfer_returns_to_the_main_menu(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "9", "0"], dial_result="no-answer", hold_seconds=5)

    assert result.heard()[3:8] == [
        MAIN_MENU,
        "Connecting you to our recycling partner.",
        "Our recycling partner is not available right now.",
        MAIN_MENU,
        SUPPORT_HOLD,
    ]
    dial = next(e for e in result.events if e.kind == "dial")
    assert (dial.text, dial.details["result"]) == ("+18005550199", "no-answer")
    outcome = next(e for e in events(app, result) if e.kind == "ivr.transfer_result")
    assert (outcome.node, outcome.detail) == ("recycling", {"status": "no-answer"})
    assert node_path(app, result)[6:10] == [
        "main.recycling",
        "main.recycling_unavailable",
        "main.main_menu",
        "main.support_queue",
    ]


def test_answered_transfer_ends_the_call(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "9"], dial_result="completed")

    assert result.heard()[-1] == "Connecting you to our recycling partner."
    assert [e.kind for e in result.events][-3:] == ["dial", "hangup", "status"]
    dial_twiml = next(x.body for x in result.exchanges if "node=main_menu" in x.url)
    assert 'timeout="20"' in dial_twiml and "+18005550199" in dial_twiml
    call = the_call(app, result)
    assert (call.node, call.outcome) == ("recycling", "transferred")


# -- hangup, goto ---------------------------------------------------------------------------


def test_warranty_information_then_goodbye(app: Flask, phone: Phone) -> None:
    sync_knowledge_base(app)
    result = phone(inputs=["1", "1", "3", "2"])

    assert result.heard()[4:] == [
        REPAIRS_MENU,
        WARRANTY_SUMMARY_EN,
        "To talk to an agent, press 1.",
        "Thank you for calling Lumina Electronics. Goodbye.",
    ]
    assert result.events[-2].kind == "hangup"
    assert result.events[-2].details["by"] == "app"
    assert result.ended == "hung up by the app"
    call = the_call(app, result)
    assert (call.flow, call.node, call.outcome) == ("repairs", "goodbye", "ivr-hangup")
    assert node_path(app, result)[-2:] == ["repairs.warranty_info", "repairs.goodbye"]


def test_repairs_9_goes_back_to_the_main_menu(app: Flask, phone: Phone) -> None:
    result = phone(inputs=["1", "1", "9", "0"], hold_seconds=5)

    assert result.heard()[3:7] == [MAIN_MENU, REPAIRS_MENU, MAIN_MENU, SUPPORT_HOLD]
    # back_to_main continues at main.main_menu, not at the start of main.
    assert node_path(app, result)[5:] == [
        "main.main_menu",
        "main.to_repairs",
        "repairs.repairs_menu",
        "repairs.back_to_main",
        "main.main_menu",
        "main.support_queue",
    ]
    assert result.heard().count(WELCOME) == 1
    assert the_call(app, result).flow == "main"


# -- prompts from the TTS cache -------------------------------------------------------------

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(64)


class FakeGTTS:
    """Stands in for gtts.gTTS (Google is unreachable): writes a tiny MP3."""

    def __init__(self, text: str, lang: str = "en", **_options: Any) -> None:
        self.text, self.lang = text, lang

    def write_to_fp(self, fp: Any) -> None:
        fp.write(MP3)


def test_cached_prompts_are_played_instead_of_said(
    app: Flask, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    import callcenter.media.tts

    monkeypatch.setattr(callcenter.media.tts.gtts, "gTTS", FakeGTTS)
    prompts = app.extensions["callcenter"].prompts
    prompts.render(WELCOME, "en")
    prompts.render(OFFER_ZH, "zh-CN")
    welcome_key = prompts.key(WELCOME, "en")
    offer_key = prompts.key(OFFER_ZH, "zh-CN")

    result = phone(inputs=["1", "0"], hold_seconds=5)

    # What the caller hears is unchanged: the simulator reads the transcript (.txt route).
    assert result.heard()[:4] == ENGLISH_START
    by_text = {e.text: e for e in result.events if e.kind in ("say", "play")}
    assert by_text[OFFER_EN].kind == "say"
    assert by_text[OFFER_ZH].kind == "play"
    assert by_text[OFFER_ZH].details["url"] == f"{PUBLIC_URL}/media/prompts/{offer_key}.mp3"
    assert by_text[WELCOME].kind == "play"
    assert by_text[WELCOME].details["url"] == f"{PUBLIC_URL}/media/prompts/{welcome_key}.mp3"
    assert by_text[WELCOME].details["transcript"] == WELCOME
    assert by_text[MAIN_MENU].kind == "say"
    transcripts = [x for x in result.exchanges if x.kind == "media"]
    assert [x.url for x in transcripts] == [
        f"{PUBLIC_URL}/media/prompts/{offer_key}.txt",
        f"{PUBLIC_URL}/media/prompts/{welcome_key}.txt",
    ]
    assert all(x.status == 200 for x in transcripts)
    voice_twiml = result.exchanges[0].body
    assert f"<Play>{PUBLIC_URL}/media/prompts/{offer_key}.mp3</Play>" in voice_twiml


def test_cache_files_written_by_hand_are_found_after_a_refresh(app: Flask, phone: Phone) -> None:
    prompts = app.extensions["callcenter"].prompts
    key = prompts.key(MAIN_MENU, "en")
    prompts.cache_dir.mkdir(parents=True, exist_ok=True)
    (prompts.cache_dir / f"{key}.mp3").write_bytes(MP3)
    (prompts.cache_dir / f"{key}.txt").write_text(MAIN_MENU, encoding="utf-8")
    assert prompts.url_for(MAIN_MENU, "en") is None  # not until the cache is rescanned
    assert prompts.refresh() == 1

    result = phone(inputs=["1", "0"], hold_seconds=5)

    menu = next(e for e in result.events if e.text == MAIN_MENU)
    assert menu.kind == "play"
    assert menu.details["url"] == f"{PUBLIC_URL}/media/prompts/{key}.mp3"


def test_personal_prompts_are_always_said(
    app: Flask, phone: Phone, customers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import callcenter.media.tts

    monkeypatch.setattr(callcenter.media.tts.gtts, "gTTS", FakeGTTS)
    greeting = "Hello Emily Johnson, welcome back to Lumina Electronics after-sales service."
    prompts = app.extensions["callcenter"].prompts
    prompts.render(greeting, "en")  # even if the rendered greeting were in the cache
    prompts.render(MAIN_MENU, "en")
    assert prompts.url_for(greeting, "en") is not None

    result = phone(from_=EMILY, inputs=["0"], hold_seconds=5)

    first, menu = result.events[0], result.events[1]
    assert (first.kind, first.text) == ("say", greeting)
    assert (menu.kind, menu.text) == ("play", MAIN_MENU)
    assert "<Say" in result.exchanges[0].body and "Emily Johnson" in result.exchanges[0].body


def test_prompt_audio_is_served_as_mpeg(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import callcenter.media.tts

    monkeypatch.setattr(callcenter.media.tts.gtts, "gTTS", FakeGTTS)
    prompts = app.extensions["callcenter"].prompts
    prompts.render(WELCOME, "en")
    key = prompts.key(WELCOME, "en")
    client = app.test_client()

    audio = client.get(f"/media/prompts/{key}.mp3")
    try:
        assert audio.status_code == 200
        assert audio.mimetype == "audio/mpeg"
        assert audio.get_data() == MP3
    finally:
        audio.close()
    text = client.get(f"/media/prompts/{key}.txt")
    assert (text.status_code, text.get_data(as_text=True)) == (200, WELCOME)
    assert text.mimetype == "text/plain"

    unknown = prompts.key("never rendered", "en")
    for path in (
        f"/media/prompts/{unknown}.mp3",
        f"/media/prompts/{unknown}.txt",
        "/media/prompts/not-a-key.mp3",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        response.close()


# -- knowledge -------------------------------------------------------------------------------


def test_knowledge_node_offers_an_agent_and_logs_the_lookup(app: Flask, phone: Phone) -> None:
    sync_knowledge_base(app)
    result = phone(inputs=["1", "1", "3", "1"], hold_seconds=5)

    heard = result.heard()
    assert heard[4:7] == [REPAIRS_MENU, WARRANTY_SUMMARY_EN, "To talk to an agent, press 1."]
    assert repairs("repairs_queue") in heard
    assert node_path(app, result)[-2:] == ["repairs.warranty_info", "repairs.repairs_queue"]
    with app.extensions["callcenter"].database.session() as session:
        [lookup] = session.scalars(select(KbLookup)).all()
        assert (lookup.action, lookup.source, lookup.article_id, lookup.call_sid) == (
            "open", "ivr", "warranty-coverage", result.call_sid,
        )  # fmt: skip


def test_knowledge_node_speech_agent_request(app: Flask, phone: Phone) -> None:
    sync_knowledge_base(app)
    result = phone(inputs=["1", "1", "3", "I want to talk to an agent"], hold_seconds=5)
    assert node_path(app, result)[-1] == "repairs.repairs_queue"


def test_knowledge_node_without_its_article_goes_straight_to_an_agent(
    app: Flask, phone: Phone
) -> None:
    result = phone(inputs=["1", "1", "3"], hold_seconds=5)  # knowledge base never synced

    assert result.heard()[4:6] == [REPAIRS_MENU, repairs("repairs_queue")]
    with app.extensions["callcenter"].database.session() as session:
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_sid == result.call_sid)
        ).all()
    assert "ivr.knowledge_missing" in kinds
