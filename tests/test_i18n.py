"""The consoles' languages: the choice (the agent's preference, else the browser's), the
catalogs complete for every string the templates and scripts use, and a Chinese-speaking
agent's console in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import CHROMIUM, LiveServer, shot
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_agents_auth import cli_env, invoke

from callcenter.models import UI_LANGUAGES, Agent, AuditEntry
from callcenter.people.agents import create_agent
from callcenter.web.i18n import (
    SCRIPT_CATALOGS,
    TRANSLATIONS,
    choose_language,
    language_from_header,
)

PACKAGE = Path(__file__).resolve().parent.parent / "callcenter"
PASSWORD = "correct horse battery"
# Every string of a script goes through t("..."), with the English text as a literal.
SCRIPT_KEY = re.compile(r'\bt\(\s*"((?:[^"\\]|\\.)*)"')


def template_strings() -> set[tuple[str | None, str]]:
    """Every (msgctxt, msgid) of the templates and the Python code, as `pybabel extract`
    finds them: a string with a context (`pgettext`) is a message of its own."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    found = extract_from_dir(str(PACKAGE), method_map=method_map)
    return {
        (context, message if isinstance(message, str) else message[0])
        for _, _, message, _, context in found
    }


def _name(key: tuple[str | None, str]) -> str:
    context, message = key
    return f"{message} [{context}]" if context else message


def script_keys() -> set[str]:
    """Every key the scripts pass to t()."""
    keys: set[str] = set()
    for path in (PACKAGE / "static").glob("*.js"):
        keys |= {json.loads(f'"{key}"') for key in SCRIPT_KEY.findall(path.read_text("utf-8"))}
    return keys


def missing_translations(po_text: bytes, wanted: set[tuple[str | None, str]]) -> list[str]:
    """The messages of `wanted` with no (or an empty) translation in the catalog, named
    "msgid [msgctxt]" when they have a context."""
    from io import BytesIO

    catalog = read_po(BytesIO(po_text))
    done = {(message.context, message.id) for message in catalog if message.id and message.string}
    return sorted(_name(key) for key in wanted - done)


def missing_keys(catalog: dict[str, str], wanted: set[str]) -> list[str]:
    return sorted(key for key in wanted if not catalog.get(key))


def other_languages() -> list[str]:
    return [language for language in UI_LANGUAGES if language != "en"]


# -- the catalogs -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", other_languages())
def test_every_template_string_is_translated(language: str) -> None:
    po = TRANSLATIONS / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    wanted = template_strings()
    assert len(wanted) > 50  # the extraction found the templates' strings
    assert missing_translations(po.read_bytes(), wanted) == []


@pytest.mark.parametrize("language", other_languages())
def test_every_script_string_is_in_the_json_catalog(language: str) -> None:
    catalog = json.loads((SCRIPT_CATALOGS / f"{language}.json").read_text("utf-8"))
    wanted = script_keys()
    assert len(wanted) > 100
    assert missing_keys(catalog, wanted) == []
    unused = sorted(set(catalog) - wanted)
    assert unused == [], "keys no script uses any more"


def test_a_missing_string_is_caught() -> None:
    """The checks above fail when one entry is taken out of a catalog."""
    po = (TRANSLATIONS / "zh_CN" / "LC_MESSAGES" / "messages.po").read_bytes()
    without = po.replace('msgstr "退出登录"'.encode(), b'msgstr ""')
    assert missing_translations(without, template_strings()) == ["Log out"]
    # A string with a context is its own message: the context-free one does not stand in.
    heading = 'msgctxt "the call record\'s heading"\nmsgid "Call"\nmsgstr "通话"'.encode()
    assert heading in po
    assert (None, "Call") in template_strings()
    without = po.replace(heading, heading.replace('"通话"'.encode(), b'""'))
    assert missing_translations(without, template_strings()) == ["Call [the call record's heading]"]
    catalog = json.loads((SCRIPT_CATALOGS / "zh-CN.json").read_text("utf-8"))
    del catalog["Connected"]
    assert missing_keys(catalog, script_keys()) == ["Connected"]


# -- which language a page speaks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ([("zh-CN", 1)], "zh-CN"),
        ([("zh", 1)], "zh-CN"),
        ([("zh-Hans", 1), ("en", 0.5)], "zh-CN"),
        ([("en-US", 1), ("zh-CN", 0.8)], "en"),
        ([("fr", 1), ("zh", 0.5)], "zh-CN"),
        ([("zh-TW", 1)], "en"),
        ([("de", 1)], "en"),
        ([], "en"),
    ],
)
def test_the_browser_language(header: list[tuple[str, float]], language: str) -> None:
    assert language_from_header(header) == language


def test_the_agents_preference_wins_over_the_browser() -> None:
    assert choose_language("zh-CN", [("en", 1)]) == "zh-CN"
    assert choose_language("en", [("zh-CN", 1)]) == "en"
    assert choose_language(None, [("zh-CN", 1)]) == "zh-CN"
    assert choose_language("xx", [("en", 1)]) == "en"


def test_the_login_page_follows_the_browser(client: FlaskClient) -> None:
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    page = chinese.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page
    catalog = re.search(r'<script type="application/json" id="i18n-catalog">(.*?)</script>', page)
    assert catalog is not None
    assert json.loads(catalog.group(1))["Login failed ({status})"] == "登录失败（{status}）"
    english = client.get("/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "<h1>Log in</h1>" in english
    assert '<script type="application/json" id="i18n-catalog">{}</script>' in english


def _agent(app: Flask, ui_language: str | None) -> None:
    with app.extensions["callcenter"].database.session() as session:
        agent = create_agent(
            session, username="li.na", display_name="李娜", agent_number="1077",
            password=PASSWORD, role="agent", skills=["support"], languages=["zh-CN"],
        )  # fmt: skip
        agent.ui_language = ui_language


def _log_in(client: FlaskClient) -> None:
    answer = client.post("/api/login", json={"username": "li.na", "password": PASSWORD})
    assert answer.status_code == 200


def test_the_console_speaks_the_agents_choice(app: Flask, client: FlaskClient) -> None:
    _agent(app, "zh-CN")
    _log_in(client)
    page = client.get("/agent", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "退出登录" in page and ">Log out<" not in page
    assert '<option value="zh-CN" lang="zh-CN" selected>' in page


def test_an_agent_changes_their_language(app: Flask, client: FlaskClient) -> None:
    _agent(app, None)
    _log_in(client)
    headers = {"Accept-Language": "zh-CN"}
    assert '<html lang="zh-CN">' in client.get("/agent", headers=headers).get_data(as_text=True)
    answer = client.post("/api/me/language", json={"ui_language": "en"})
    assert answer.status_code == 200
    assert answer.get_json() == {"ui_language": "en"}
    assert '<html lang="en">' in client.get("/agent", headers=headers).get_data(as_text=True)
    assert client.post("/api/me/language", json={"ui_language": "fr"}).status_code == 400
    assert client.post("/api/me/language", json={"ui_language": None}).status_code == 200
    assert '<html lang="zh-CN">' in client.get("/agent", headers=headers).get_data(as_text=True)
    with app.extensions["callcenter"].database.session() as session:
        agent = session.scalar(select(Agent).where(Agent.username == "li.na"))
        assert agent.ui_language is None


def test_setting_the_language_needs_a_login(client: FlaskClient) -> None:
    assert client.post("/api/me/language", json={"ui_language": "en"}).status_code == 401


def test_the_command_line_sets_the_language(app: Flask) -> None:
    _agent(app, None)
    env = cli_env(app.extensions["callcenter"].settings.database_url)
    result = invoke(["agents", "edit", "li.na", "--ui-language", "zh-CN"], env)
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == ["li.na: ui_language: - -> zh-CN"]
    with app.extensions["callcenter"].database.session() as session:
        agent = session.scalar(select(Agent).where(Agent.username == "li.na"))
        assert agent.ui_language == "zh-CN"
    result = invoke(["agents", "edit", "li.na", "--ui-language", "browser"], env)
    assert result.exit_code == 0, result.stderr
    with app.extensions["callcenter"].database.session() as session:
        agent = session.scalar(select(Agent).where(Agent.username == "li.na"))
        assert agent.ui_language is None


def test_the_command_line_adds_an_agent_with_a_language(app: Flask) -> None:
    env = cli_env(app.extensions["callcenter"].settings.database_url)

    def add(username: str, number: str, language: str) -> Any:
        args = ["agents", "add", username, "--name", username.title(), "--number", number,
                "--password-stdin", "--ui-language", language]  # fmt: skip
        return invoke(args, env, input=f"{PASSWORD}\n")

    result = add("wu.lei", "1078", "zh-CN")
    assert result.exit_code == 0, result.stderr
    result = add("zhao.yun", "1079", "browser")
    assert result.exit_code == 0, result.stderr
    refused = add("qian.li", "1080", "fr")
    assert refused.exit_code == 2 and "'fr' is not one of" in refused.stderr
    with app.extensions["callcenter"].database.session() as session:
        languages = dict(session.execute(select(Agent.username, Agent.ui_language)).all())
        assert languages == {"wu.lei": "zh-CN", "zhao.yun": None}
        log = session.scalar(select(AuditEntry).where(AuditEntry.action == "agent.add"))
        assert log.details["changes"]["ui_language"] == [None, "zh-CN"]


def test_the_chinese_font_is_served(client: FlaskClient) -> None:
    sheet = client.get("/vendor/fonts/noto-sans-sc/400.css")
    if sheet.status_code == 503:
        pytest.skip("@fontsource/noto-sans-sc is not installed (make install)")
    assert sheet.status_code == 200
    first = re.search(r"url\(\./(files/[^)]+\.woff2)\)", sheet.get_data(as_text=True))
    assert first is not None
    font = client.get(f"/vendor/fonts/noto-sans-sc/{first.group(1)}")
    assert font.status_code == 200
    assert font.mimetype == "font/woff2"
    assert client.get("/vendor/fonts/noto-sans-sc/../../package.json").status_code == 404


# -- the console in the browser -----------------------------------------------------------------

# Marks every shown element whose own text holds a CJK ideograph.
_MARK_CJK = """() => {
  let count = 0;
  for (const element of document.querySelectorAll("body *")) {
    const own = [...element.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE);
    const chinese = own.some((node) => /[\\u4e00-\\u9fff]/.test(node.textContent));
    if (chinese && element.getClientRects().length) {
      element.setAttribute("data-cjk", String(count++));
    }
  }
  return count;
}"""


def drawn_without_the_chinese_font(context: object, page: object) -> list[str]:
    """The shown elements with Chinese text that Chromium drew in no web font, after the page's
    fonts loaded: with no CJK font on the machine, those are missing-glyph boxes. (Chromium
    says which fonts drew a node; `document.fonts.check` does not see this.)"""
    page.evaluate("document.fonts.ready.then(() => true)")  # type: ignore[attr-defined]
    assert page.evaluate(_MARK_CJK) > 5  # type: ignore[attr-defined]
    cdp = context.new_cdp_session(page)  # type: ignore[attr-defined]
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    boxes = []
    for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "[data-cjk]"})[
        "nodeIds"
    ]:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        if fonts and not any(font["isCustomFont"] for font in fonts):
            boxes.append(cdp.send("DOM.getOuterHTML", {"nodeId": node})["outerHTML"][:80])
    cdp.detach()
    return boxes


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_agents_console(browser: object, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    _agent(live_server.app, "zh-CN")
    live_server.app.extensions["callcenter"].extras["realtime"].start()
    context = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login?next=/agent")
    expect(page.locator("h1")).to_have_text("Log in")  # the browser speaks English
    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/agent")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#go-available")).to_have_text("空闲")
    expect(page.locator("#connection")).to_have_text("已连接")
    expect(page.locator("#status")).to_have_text("离线")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("空闲")
    longest = page.locator("#queues td[data-field=longest-wait]").first
    expect(longest).to_have_text("0秒")
    assert page.evaluate("seconds(72)") == "1分钟12秒"
    # 2024-05-01 06:03:09 UTC is 14:03:09 in Shanghai, the demo center's zone.
    assert page.evaluate("dateTime('2024-05-01T06:03:09Z')") == "2024年5月1日 14:03:09"
    # The top bar and the headings, in the page from the start, are not boxes either.
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("console-zh"), full_page=True)
    page.screenshot(path=shot("console-zh-top"), clip={"x": 0, "y": 0, "width": 900, "height": 300})
    assert errors == []
    context.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_wallboard(browser: object, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    with live_server.app.extensions["callcenter"].database.session() as session:
        chief = create_agent(
            session, username="wang.fang", display_name="王芳", agent_number="1090",
            password=PASSWORD, role="supervisor", skills=["support"], languages=["zh-CN"],
        )  # fmt: skip
        chief.ui_language = "zh-CN"
    live_server.app.extensions["callcenter"].extras["realtime"].start()
    context = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login?next=/supervisor")
    page.fill("input[name=username]", "wang.fang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/supervisor")
    expect(page.locator("h1")).to_have_text("监控大屏")
    expect(page.locator("#queue-board h2")).to_have_text("队列")
    expect(page.locator("#recent h2")).to_have_text("最近通话")
    expect(page.locator("#calls-table th").first).to_have_text("状态")
    expect(page.locator("#connection")).to_have_text("实时")
    expect(page.locator("#calls td").first).to_have_text("当前没有通话")
    # The legend's definitions of the figures (the feed sends them in English).
    expect(page.locator("#definitions")).to_contain_text(
        "平均应答速度：被接听来电者的排队等待总时长"
    )
    expect(page.locator("#definitions")).to_contain_text("当前在队列中在线等待的来电者")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("wallboard-zh"), full_page=True)
    assert errors == []
    context.close()


def _chinese_supervisor(app: Flask) -> None:
    with app.extensions["callcenter"].database.session() as session:
        chief = create_agent(
            session, username="wang.fang", display_name="王芳", agent_number="1090",
            password=PASSWORD, role="supervisor", skills=["support"], languages=["zh-CN"],
        )  # fmt: skip
        chief.ui_language = "zh-CN"


def _open_as_chinese_supervisor(browser: object, live_server: LiveServer, path: str) -> tuple:
    """A zh-CN supervisor's page at `path`, with the browser itself speaking English."""
    context = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login?next={path}")
    page.fill("input[name=username]", "wang.fang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return context, page, errors


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_call_record(
    browser: object, live_server: LiveServer
) -> None:
    from datetime import UTC, datetime

    from playwright.sync_api import expect

    from callcenter.calls.records import log_event, open_call

    _chinese_supervisor(live_server.app)
    sid = "CA" + "8" * 32
    with live_server.app.extensions["callcenter"].database.session() as session:
        call = open_call(session, call_sid=sid, from_raw="+8613900139000",
                         to="+864008001234", flow="main", default_language="zh-CN")  # fmt: skip
        call.started_at = datetime(2024, 5, 1, 6, 3, 9, tzinfo=UTC)
        call.status, call.outcome = "completed", "abandoned"
        log_event(session, sid, "queue.entered", flow="main", node="to_support")
        log_event(session, sid, "conference.join", member="caller")
    context, page, errors = _open_as_chinese_supervisor(browser, live_server, f"/calls/{sid}")
    expect(page).to_have_url(f"{live_server.url}/calls/{sid}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#call-details")).to_be_visible()
    expect(page.locator("#call-head h2")).to_contain_text("通话")
    expect(page.locator("#call-recordings-card h2")).to_have_text("录音")
    expect(page.locator("#call-timeline-card h2")).to_have_text("时间线")
    expect(page.locator("#call-knowledge-card h2")).to_have_text("查阅的知识")
    expect(page.locator("#call-caller")).to_have_text("未知来电者")
    # An unknown caller is made a customer from here, the number filled in.
    expect(page.locator("#call-customer")).to_have_text("新建客户")
    expect(page.locator("#call-customer")).to_have_attribute(
        "href", "/customers?phone=%2B8613900139000"
    )
    expect(page.locator("#call-recordings li")).to_have_text("此通话未录音。")
    expect(page.locator("#call-started")).to_have_text("2024年5月1日 14:03:09")
    expect(page.locator("#call-csat")).to_have_text("未调查")
    # Values the API sends as codes: shown in words, the code kept for the tooltip.
    expect(page.locator("#call-status")).to_have_text("已完成")
    expect(page.locator("#call-outcome")).to_have_text("已放弃")
    entered = page.locator("#call-timeline tr[data-kind='queue.entered'] td").nth(1)
    expect(entered).to_have_text("进入队列")
    expect(entered).to_have_attribute("title", "queue.entered")
    joined = page.locator("#call-timeline tr[data-kind='conference.join'] td").nth(1)
    expect(joined).to_have_text("会议：join")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("call-zh"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_customers_page(
    browser: object, live_server: LiveServer
) -> None:
    from datetime import UTC, datetime

    from playwright.sync_api import expect

    from callcenter.care.tickets import create_ticket
    from callcenter.crm.records import create_customer, update_customer
    from callcenter.models import Voicemail

    _chinese_supervisor(live_server.app)
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        chief = session.scalar(select(Agent).where(Agent.username == "wang.fang"))
        customer, _ = create_customer(
            session, chief, {"name": "张伟", "phones": ["+8613900139000"]}, ["zh-CN", "en"],
            datetime.now(UTC),
        )  # fmt: skip
        session.flush()
        number = customer.id
        # A change, a ticket in progress and a voicemail handled: shown in words, not codes.
        update_customer(session, chief, number, {"notes": "常客"}, ["zh-CN", "en"],
                        datetime.now(UTC))  # fmt: skip
        ticket, _ = create_ticket(session, services.settings, chief, {"category": "repair",
                                  "description": "屏幕坏了", "customer_id": number},
                                  datetime.now(UTC))  # fmt: skip
        ticket.status = "in_progress"
        session.add(Voicemail(mailbox="support", call_sid="CA" + "7" * 32, status="handled",
                              recording_sid="RE" + "7" * 32, customer_id=number))  # fmt: skip
    context, page, errors = _open_as_chinese_supervisor(browser, live_server, "/customers")
    expect(page).to_have_url(f"{live_server.url}/customers")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#customers-page h2").first).to_contain_text("客户")
    expect(page.locator("#cu-search button[type=submit]")).to_have_text("搜索")
    page.fill("#cu-q", "nobody-by-this-name")
    page.click("#cu-search button[type=submit]")
    expect(page.locator("#cu-rows")).to_have_text("未找到客户。")
    page.fill("#cu-q", "")
    page.click("#cu-search button[type=submit]")
    page.click(f"#cu-rows tr[data-customer-id='{number}'] a")
    expect(page.locator("#cu-title")).to_have_text(f"张伟 (#{number})")
    expect(page.locator("#cu-detail h4").first).to_have_text("通话")
    expect(page.locator("#cu-calls")).to_have_text("没有通话。")
    expect(page.locator("#cu-d-tier")).to_have_text("普通")
    expect(page.locator("#cu-tickets li")).to_contain_text("处理中")
    expect(page.locator("#cu-voicemails li")).to_contain_text("已处理")
    expect(page.locator("#cu-history li").nth(0)).to_contain_text("wang.fang · 备注")
    expect(page.locator("#cu-history li").nth(0)).to_contain_text("→ 常客")
    expect(page.locator("#cu-history li").nth(1)).to_contain_text("wang.fang · 已创建")
    expect(page.locator("#cu-call")).to_have_text("拨打")
    page.click("#cu-edit-open")
    expect(page.locator("#cu-edit-title")).to_have_text("编辑 张伟")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("customers-zh"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_actions_and_notes(
    browser: object, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    _chinese_supervisor(live_server.app)
    _agent(live_server.app, None)  # 李娜, offline
    live_server.app.extensions["callcenter"].extras["realtime"].start()
    context, page, errors = _open_as_chinese_supervisor(browser, live_server, "/supervisor")
    expect(page).to_have_url(f"{live_server.url}/supervisor")
    expect(page.locator("#connection")).to_have_text("实时")
    expect(page.locator("#board-day")).to_contain_text("今天 ")
    expect(page.locator("#charts-note")).to_contain_text("服务水平：20 秒内接听")
    expect(page.locator("#legend-settings")).to_contain_text("短放弃")
    page.check("#show-offline")
    row = page.locator("#agents tr[data-agent='li.na']")
    expect(row).to_be_visible()
    away = row.locator("button[data-status=away]")
    expect(away).to_have_text("离开")
    expect(away).to_have_attribute("title", "离线：需由其本人在控制台设为空闲或离开")
    expect(row.locator("button[data-status=offline]")).to_have_text("离线")
    page.locator("#legend summary").click()
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("wallboard-actions-zh"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_phone_page_follows_the_browser(browser: object, live_server: LiveServer) -> None:
    """The caller's side (/phone) speaks the browser's language: Chinese for a zh-CN
    browser, with its states and notices from the script, and English for an English one."""
    from playwright.sync_api import expect

    from callcenter.simulator import phone_page
    from callcenter.simulator import phones as phone_lines

    app = live_server.app
    if "phone" not in app.blueprints:
        app.register_blueprint(phone_page.bp)
    app.config[phone_page.PACE_CONFIG] = 0.5
    try:
        context = browser.new_context(locale="zh-CN")  # type: ignore[attr-defined]
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_server.url}/phone")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("#phone h2").first).to_contain_text("电话")
        expect(page.locator("#state")).to_have_text("空闲")
        expect(page.locator("#call")).to_have_text("拨打")
        expect(page.locator("#keys")).to_have_attribute("placeholder", "按键，例如 12345678#")
        expect(page.locator("#no-messages")).to_have_text("没有发给此号码的短信。")
        labels = page.locator("#demo-numbers option").evaluate_all("(o) => o.map((x) => x.label)")
        assert "王伟 · VIP 客户，偏好中文" in labels
        page.fill("#from", "+15005550006")
        page.click("#call")
        expect(page.locator("#state")).to_have_text("通话中")
        page.fill("#keys", "1a")  # the script's own check (the field's pattern taken off)
        page.evaluate("document.getElementById('keys').removeAttribute('pattern')")
        page.click("#send-keys")
        expect(page.locator("#error")).to_have_text("按键只能是 0-9、* 和 #。")
        page.click("#hangup")
        expect(page.locator("#state")).to_have_text("已结束", timeout=10000)
        assert drawn_without_the_chinese_font(context, page) == []
        page.screenshot(path=shot("phone-zh"), full_page=True)
        assert errors == []
        context.close()
        english = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
        page = english.new_page()
        page.goto(f"{live_server.url}/phone")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#state")).to_have_text("idle")
        expect(page.locator("#call")).to_have_text("Call")
        english.close()
    finally:
        phone_lines.phones_of(app).close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_admins_pages(browser: object, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    with live_server.app.extensions["callcenter"].database.session() as session:
        boss = create_agent(
            session, username="zhou.min", display_name="周敏", agent_number="1001",
            password=PASSWORD, role="admin", skills=["support"], languages=["zh-CN"],
        )  # fmt: skip
        boss.ui_language = "zh-CN"
    _agent(live_server.app, None)  # 李娜, offline
    context = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}/login?next=/admin")
    page.fill("input[name=username]", "zhou.min")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#admin-page h2").first).to_have_text("坐席")
    expect(page.locator("#ad-new")).to_have_text("添加坐席")
    expect(page.locator(".topbar .who")).to_contain_text("管理员")
    row = page.locator("#ad-rows tr[data-username='li.na']")
    expect(row.locator("td").nth(3)).to_have_text("坐席")
    expect(row.locator("td[data-status]")).to_have_text("离线")
    expect(row.locator("button[data-action=logout]")).to_have_text("退出登录")
    row.locator("button[data-action=deactivate]").click()
    expect(page.locator("#ad-done")).to_have_text("li.na 已停用：其所有会话均已结束")
    expect(row.locator("td[data-status]")).to_have_text("已停用")
    # The audit log below: the deactivation, in Chinese.
    expect(page.locator("#audit h2")).to_have_text("审计日志")
    page.reload()
    logged = page.locator("#audit-rows tr").first
    expect(logged.locator("[data-field=action]")).to_have_text("停用坐席")
    expect(logged.locator("[data-field=change]")).to_have_text("active: 是 → 否")
    expect(logged.locator("[data-field=result]")).to_have_text("完成")
    row.locator("button[data-action=edit]").click()
    expect(page.locator("#ad-edit-title")).to_have_text("编辑 li.na")
    expect(page.locator("#ad-takes-calls-on option[value=phone]")).to_have_text("本人电话")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("admin-zh"), full_page=True)

    page.goto(f"{live_server.url}/admin/config")
    expect(page.locator("#admin-config h2").first).to_have_text("队列、通话结果与服务时间")
    expect(page.locator("#config-note")).to_contain_text("只读。这些设置在配置文件")
    expect(page.locator("#config-note .mono").first).to_contain_text("config.yaml")
    expect(page.locator("#config-dispositions h2")).to_have_text("通话结果")
    expect(page.locator("#config-hours dt").first).to_have_text("星期一")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("admin-config-zh"), full_page=True)
    assert errors == []
    context.close()


def test_metric_definitions_come_in_the_readers_language(app: Flask, client: FlaskClient) -> None:
    """The reports' API sends each figure's definition in the requester's language (the
    domain keeps English message ids; the figures and the keys stay as they are)."""
    _chinese_supervisor(app)
    assert (
        client.post("/api/login", json={"username": "wang.fang", "password": PASSWORD}).status_code
        == 200
    )
    period = "from=2024-05-01&to=2024-05-02"
    chinese = client.get(f"/api/reports/queues?{period}").get_json()["definitions"]
    assert chinese["service_level"] == "T = 20 秒内接听数 ÷（接听数 + 超过 5 秒后的放弃数）。"
    agents = client.get(f"/api/reports/agents?{period}").get_json()["definitions"]
    assert agents["ranks"].startswith("在同行中的百分位排名")
    staffing = client.get("/api/reports/staffing?date=2024-05-01").get_json()["definitions"]
    assert staffing["service_level_target"] == "队列的目标：在 T = 20 秒内接听的来电者比例。"
    ivr = client.get(f"/api/reports/ivr?{period}").get_json()["definitions"]
    assert ivr["invalid"] == "节点拒绝的回答（每次尝试都计）。"
    wallboard = client.get("/supervisor").get_data(as_text=True)
    own = re.search(
        r'<script type="application/json" id="page-definitions">(.*?)</script>', wallboard
    )
    assert own is not None  # the page's own copy (the feed sends them in English)
    assert json.loads(own.group(1))["waiting"].startswith("当前在队列中在线等待的来电者")
    assert client.post("/api/me/language", json={"ui_language": "en"}).status_code == 200
    english = client.get(f"/api/reports/queues?{period}").get_json()["definitions"]
    assert english["service_level"] == (
        "Answered within T = 20 seconds ÷ (answered + abandoned after 5 seconds)."
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_tickets_page(
    browser: object, live_server: LiveServer
) -> None:
    from datetime import UTC, datetime, timedelta

    from playwright.sync_api import expect

    from callcenter.care.tickets import create_ticket

    _chinese_supervisor(live_server.app)
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        chief = session.scalar(select(Agent).where(Agent.username == "wang.fang"))
        long_ago = datetime.now(UTC) - timedelta(days=10)  # overdue since
        ticket, _ = create_ticket(session, services.settings, chief, {
            "category": "billing", "description": "两次扣款", "caller_number": "+8613900139000",
        }, long_ago)  # fmt: skip
        session.flush()
        number = ticket.id
    context, page, errors = _open_as_chinese_supervisor(browser, live_server, "/tickets")
    expect(page).to_have_url(f"{live_server.url}/tickets")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#tickets-page h2").first).to_contain_text("工单")
    expect(page.locator("[data-scope=overdue]")).to_have_text("已逾期")
    row = page.locator(f"#tk-rows tr[data-ticket-id='{number}']")
    expect(row.locator("td.due")).to_contain_text("（已逾期）")
    page.select_option("#tk-status", "closed")
    expect(page.locator("#tk-rows")).to_have_text("这里没有工单。")
    page.select_option("#tk-status", "active")
    page.click("[data-scope=overdue]")
    row.locator("a").click()
    expect(page.locator("#tk-detail dt").first).to_have_text("客户")
    expect(page.locator("#tk-save")).to_have_text("保存")
    expect(page.locator("#tk-history li").first).to_contain_text("创建")
    expect(page.locator("#tk-calls")).to_have_text("没有关联的通话")
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("tickets-zh"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_chinese_speaking_supervisors_reports_pages(
    browser: object, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    _chinese_supervisor(live_server.app)
    context, page, errors = _open_as_chinese_supervisor(browser, live_server, "/reports")
    expect(page).to_have_url(re.compile(r"/reports"))
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=15000)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#period button[type=submit]")).to_have_text("显示")
    expect(page.locator("#period label").first).to_contain_text("从")  # a period's start
    expect(page.locator(".reports h2").first).to_have_text("报表")
    expect(page.locator("#agents-head th").first).to_have_text("坐席")
    expect(page.locator("#agents-head th", has_text="外呼").first).to_be_visible()
    expect(page.locator("#agents")).to_have_text("此期间没有坐席工作。")
    expect(page.locator("#definitions h3").first).to_have_text("队列")
    shown = page.locator("thead th, #definitions dt, #definitions h3").all_inner_texts()
    assert [text for text in shown if re.search(r"[A-Za-z]{3,}", text)] == []  # no English
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("reports-zh"), full_page=True)

    page.goto(f"{live_server.url}/reports/ivr")
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=15000)
    expect(page.locator("h2").first).to_have_text("来电者在 IVR 中的去向")
    expect(page.locator("#period button[type=submit]")).to_have_text("显示")
    expect(page.locator("#back")).to_have_text("报表")
    expect(page.locator("#definitions dt").first).to_have_text("到达")
    node = page.locator(".ivr-node[data-node] text").first
    expect(node).to_contain_text(" · ")
    assert "到达 0" in page.locator(".ivr-node text").all_text_contents()
    assert drawn_without_the_chinese_font(context, page) == []
    page.screenshot(path=shot("reports-ivr-zh"), full_page=True)
    assert errors == []
    context.close()
