"""Customer care in a Chinese-speaking agent's console, in headless Chromium against the real
server: what happened to each missed caller, a done follow-up's outcome and the promise of a
ticket just opened are phrased in the agent's language (the API sends facts and codes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import CHROMIUM, LiveServer, shot
from playwright.sync_api import expect
from sqlalchemy import select
from test_i18n import PASSWORD, _agent

from callcenter.calls.records import open_call
from callcenter.care.followups import WITH_VOICEMAIL, add_miss
from callcenter.care.models import Ticket

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
ONE = "+8613900139001"
TWO = "+8613900139002"
WEEKDAYS = "一二三四五六日"


def _misses(live_server: LiveServer) -> None:
    """Three missed contacts from ONE, an unhandled voicemail from TWO, a follow-up closed
    with its voicemail from a third number."""
    now = datetime.now(UTC)
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        for n, number in enumerate((ONE, ONE, ONE, TWO, "+8613900139003")):
            open_call(session, call_sid=f"CA{n:032d}", from_raw=number, to="+864008001234",
                      flow="main", default_language="zh-CN")  # fmt: skip
        session.flush()
        facts = [
            (ONE, "abandoned", "support", 185),
            (ONE, "cut_off", "repairs", 40),
            (ONE, "callback_no_answer", "support", None),
            (TWO, "voicemail", "support", None),
            ("+8613900139003", "voicemail", "support", None),
        ]
        for n, (number, reason, queue, waited) in enumerate(facts):
            followup = add_miss(
                session, number=number, customer_id=None, language="zh-CN", reason=reason,
                call_sid=f"CA{n:032d}", queue=queue, waited=waited, voicemail_id=None,
                at=now - timedelta(minutes=10 - n),
            )  # fmt: skip
            assert followup is not None
        followup.status, followup.open_key = "done", None
        followup.done_at, followup.outcome = now, WITH_VOICEMAIL


def test_a_chinese_speaking_agent_reads_follow_ups_and_ticket_promises(
    browser: object, live_server: LiveServer
) -> None:
    _agent(live_server.app, "zh-CN")
    _misses(live_server)
    live_server.app.extensions["callcenter"].extras["realtime"].start()
    context = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login?next=/agent")
    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/agent")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # What happened, in Chinese (the queues' names are the config's).
    one = page.locator("#fu-list li.fu").filter(has_text=ONE)
    what = one.locator("ul.fu-what li")
    expect(what).to_have_count(3)
    expect(what.nth(0)).to_contain_text("在 After-sales support 等待 3分钟5秒 后挂断")
    expect(what.nth(1)).to_contain_text("在 Repairs and warranty 中断：坐席开口前线路已断开")
    expect(what.nth(2)).to_contain_text("已回电，未联系上：无人接听")
    two = page.locator("#fu-list li.fu").filter(has_text=TWO)
    expect(two.locator("ul.fu-what li")).to_contain_text("留下语音留言，60 分钟后仍未处理")
    page.screenshot(path=shot("followups-zh"), full_page=True)
    page.select_option("#fu-status", "done")
    done = page.locator("#fu-list li.fu")
    expect(done).to_have_count(1)
    expect(done).to_contain_text("随语音留言一并关闭")

    # A ticket opened from the console: its promise, in Chinese, in the center's time zone.
    page.select_option("#ticket-category", "complaint")
    page.select_option("#ticket-kind", "venting")
    page.fill("#ticket-description", "两次等待，要求经理回电")
    page.click("#ticket-submit")
    created = page.locator("#ticket-created")
    expect(created).to_contain_text("我们承诺在 12 小时内答复")
    with live_server.app.extensions["callcenter"].database.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        due = ticket.due_at.replace(tzinfo=ticket.due_at.tzinfo or UTC)
    local = due.astimezone(ZoneInfo("Asia/Shanghai"))  # the demo center's zone
    when = f"{local.month}月{local.day}日周{WEEKDAYS[local.weekday()]} {local:%H:%M}"
    expect(created).to_contain_text(f"最迟 {when}。")
    assert "promise" not in (created.text_content() or "")
    page.locator("#ticket-card").screenshot(path=shot("ticket-zh"))

    # The tickets page says the same.
    page.goto(f"{live_server.url}/tickets#{ticket.id}")
    expect(page.locator("#tk-promise")).to_contain_text(f"我们承诺在 12 小时内答复，最迟 {when}。")
    assert errors == []
    context.close()
