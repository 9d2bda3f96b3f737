"""The agent console's knowledge base and voicemail inbox, and the call record page, driven
in headless Chromium against the real server: search with highlighted snippets, read an
article, work a voicemail (listen, take, close), replay a call's recording with its pauses."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import CHROMIUM, LiveServer, chromium, start_caller, sync_knowledge_base
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from test_agent_socket import PASSWORD, team  # noqa: F401

from callcenter.knowledge.models import KbLookup
from callcenter.models import (
    Call,
    CallEvent,
    CallRecording,
    Customer,
    CustomerPhone,
    RecordingDownload,
    RecordingPlayback,
    Voicemail,
)
from callcenter.simulator.audio import wav_bytes

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
WANG = "+8613800138000"  # 王伟, VIP, ACME-1001 (demo/customers.csv)
# Half past ten in Shanghai, the browser's time zone below.
CALL_START = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium("--autoplay-policy=no-user-gesture-required") as launched:
        yield launched


class Console:
    """One agent's browser window, logged in, collecting script errors and dialogs."""

    def __init__(self, browser: Browser, server: LiveServer, username: str) -> None:
        self.context: BrowserContext = browser.new_context(timezone_id="Asia/Shanghai")
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.goto(f"{server.url}/agent")
        expect(self.page).to_have_url(f"{server.url}/login?next=/agent")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        expect(self.page).to_have_url(f"{server.url}/agent")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def audio_duration(self, selector: str) -> float:
        """Load the <audio> (preload is none) and wait for its metadata: the duration."""
        return self.page.evaluate(
            """(selector) => new Promise((resolve, reject) => {
                const audio = document.querySelector(selector);
                if (!audio) return reject(new Error("no audio element"));
                const done = () => resolve(audio.duration);
                if (audio.readyState >= 1) return done();
                audio.addEventListener("loadedmetadata", done, { once: true });
                audio.addEventListener("error", () => reject(new Error("audio error " +
                    (audio.error && audio.error.code))), { once: true });
                audio.preload = "metadata";
                audio.load();
                setTimeout(() => reject(new Error("audio did not load")), 10000);
            })""",
            selector,
        )

    def fetch_status(self, selector: str) -> list[int]:
        """The status of a whole and of a ranged request for the element's src."""
        return self.page.evaluate(
            """async (selector) => {
                const src = document.querySelector(selector).src;
                const whole = await fetch(src);
                const part = await fetch(src, { headers: { Range: "bytes=100-199" } });
                return [whole.status, part.status, (await part.arrayBuffer()).byteLength];
            }""",
            selector,
        )

    def close(self) -> None:
        self.context.close()


def services(server: LiveServer) -> Any:
    return server.app.extensions["callcenter"]


def store_wav(server: LiveServer, recording_sid: str, seconds: float) -> dict[str, Any]:
    """A real WAV file where the recording store keeps it; the download row's fields."""
    settings = services(server).settings
    audio = wav_bytes(seconds)
    relative = f"2026/11/20/{recording_sid}.wav"
    path = settings.path(settings.recordings_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(audio)
    return {
        "path": relative,
        "size_bytes": len(audio),
        "sha256": hashlib.sha256(audio).hexdigest(),
        "content_type": "audio/x-wav",
    }


def seed_call(
    server: LiveServer, agent_id: int | None, *, outcome: str, **fields: Any
) -> tuple[str, int | None]:
    """A finished call from 王伟; returns (call_sid, customer_id)."""
    call_sid = "CA" + uuid.uuid4().hex
    with services(server).database.session() as session:
        customer = session.scalar(
            select(Customer).join(CustomerPhone).where(CustomerPhone.number == WANG)
        )
        session.add(
            Call(
                call_sid=call_sid, from_number=WANG, caller_number=WANG, caller_kind="pstn",
                to_number="+864008001234", customer_id=customer.id if customer else None,
                flow="main", node="support", language="zh-CN", status="completed",
                outcome=outcome, queue="support", started_at=CALL_START,
                ended_at=CALL_START + timedelta(minutes=5), duration_seconds=300,
                agent_id=agent_id, **fields,
            )
        )  # fmt: skip
        return call_sid, customer.id if customer else None


def seed_voicemail(server: LiveServer) -> tuple[int, str, str]:
    """A new voicemail in the support mailbox, downloaded: (id, call_sid, recording_sid)."""
    call_sid, customer_id = seed_call(server, None, outcome="voicemail")
    recording_sid = "RE" + uuid.uuid4().hex
    stored = store_wav(server, recording_sid, 2.0)
    now = datetime.now(UTC)
    with services(server).database.session() as session:
        voicemail = Voicemail(
            mailbox="support", call_sid=call_sid, recording_sid=recording_sid,
            customer_id=customer_id, from_number=WANG, duration_seconds=2, status="new",
            created_at=now - timedelta(minutes=7),
        )  # fmt: skip
        session.add(voicemail)
        session.add(
            RecordingDownload(
                recording_sid=recording_sid, call_sid=call_sid, purpose="voicemail",
                source_url=f"https://api.twilio.com/Recordings/{recording_sid}",
                expected_duration=2, status="done", completed_at=now, **stored,
            )
        )  # fmt: skip
        session.flush()
        return voicemail.id, call_sid, recording_sid


def test_knowledge_search_highlights_and_opens_articles(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    sync_knowledge_base(live_server.app)
    amy = Console(browser, live_server, "amy")
    page = amy.page
    expect(page.locator("#kb-send")).to_be_disabled()

    page.fill("#kb-q", "warranty")
    page.click("#kb-search button[type=submit]")
    results = page.locator("#kb-results > li")
    expect(results.first).to_be_visible()
    assert results.count() >= 2
    expect(page.locator("#kb-results mark").first).to_have_text("warranty", ignore_case=True)
    # Every snippet is text and <mark> elements only.
    tags = page.eval_on_selector_all(
        "#kb-results .snippet *", "nodes => [...new Set(nodes.map((n) => n.tagName))]"
    )
    assert tags == ["MARK"]
    expect(page.locator("#kb-summary-line")).to_contain_text("for “warranty”")

    # Only the English articles.
    page.select_option("#kb-lang", "en")
    page.click("#kb-search button[type=submit]")
    expect(page.locator("#kb-results > li .pill").first).to_have_text("en")
    languages = page.eval_on_selector_all(
        "#kb-results > li .pill", "nodes => nodes.map((n) => n.textContent)"
    )
    assert set(languages) == {"en"}

    first = results.first
    title = first.locator("button").inner_text()
    article_id = first.get_attribute("data-article-id")
    first.locator("button").click()
    expect(page.locator("#kb-article")).to_be_visible()
    expect(page.locator("#kb-title")).to_have_text(title)
    expect(page.locator("#kb-body p").first).to_be_visible()
    expect(page.locator("#kb-link")).to_have_attribute(
        "href", f"{live_server.url}/help/{article_id}"
    )
    expect(page.locator("#kb-send")).to_be_disabled()  # not in a call

    # Markup typed as a query stays text: no element is made of it, nothing runs.
    hostile = "<img src=x onerror=alert(1)>"
    page.fill("#kb-q", hostile)
    page.select_option("#kb-lang", "")
    page.click("#kb-search button[type=submit]")
    expect(page.locator("#kb-summary-line")).to_contain_text(hostile)
    assert page.locator("#kb img, #kb-results img").count() == 0
    # The snippet renderer on an escaped snippet with a mark: text and <mark> only.
    built = page.evaluate(
        """() => {
            const p = document.createElement("p");
            const escaped = "&lt;img src=x onerror=alert(1)&gt; &amp; <mark>warranty</mark> ok";
            p.append(markedText(escaped));
            const mark = p.querySelector("mark");
            return [p.textContent, p.querySelectorAll("*").length, mark.textContent];
        }"""
    )
    assert built == ["<img src=x onerror=alert(1)> & warranty ok", 1, "warranty"]
    page.wait_for_timeout(300)
    assert amy.dialogs == []
    assert amy.errors == []

    with services(live_server).database.session() as session:
        lookups = session.scalars(select(KbLookup).order_by(KbLookup.id)).all()
        assert [(item.action, item.query) for item in lookups][:2] == [
            ("search", "warranty"),
            ("search", "warranty"),
        ]
        assert ("open", article_id) in [(item.action, item.article_id) for item in lookups]
    amy.close()


def test_voicemail_inbox_listen_take_and_close(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    voicemail_id, call_sid, recording_sid = seed_voicemail(live_server)
    amy = Console(browser, live_server, "amy")
    page = amy.page
    item = page.locator(f"#vm-list li[data-voicemail-id='{voicemail_id}']")
    expect(item).to_be_visible()
    expect(item.locator(".vm-caller")).to_have_text("王伟")
    expect(item).to_contain_text("ACME-1001")
    expect(item).to_contain_text("延保客户")
    expect(item).to_contain_text("vip")
    expect(item).to_contain_text("Support voicemail")
    expect(item.locator(".vm-age")).to_have_text("7 min ago")
    expect(item.locator(".vm-status")).to_have_text("New")
    expect(item.locator("a")).to_have_attribute("href", f"/calls/{call_sid}")

    # The mailbox filter: another mailbox is empty, the support one has it.
    page.select_option("#vm-mailbox", "repairs")
    expect(page.locator("#vm-list li.empty")).to_be_visible()
    page.select_option("#vm-mailbox", "support")
    expect(item).to_be_visible()

    item.locator("button.vm-assign").click()
    expect(item.locator(".vm-status")).to_have_text("Assigned to me")
    expect(item.locator("button.vm-assign")).to_have_count(0)
    expect(item.locator("button.vm-release")).to_be_visible()

    # The player loads the stored file (the server answers ranges too).
    selector = f"#vm-list li[data-voicemail-id='{voicemail_id}'] audio"
    assert item.locator("audio").get_attribute("src") == f"/api/recordings/{recording_sid}"
    assert item.locator("audio").get_attribute("preload") == "none"
    assert amy.audio_duration(selector) == pytest.approx(2.0, abs=0.05)
    assert amy.fetch_status(selector) == [200, 206, 100]

    # Bob sees who has it, and neither hears it nor acts on it.
    bob = Console(browser, live_server, "bob")
    theirs = bob.page.locator(f"#vm-list li[data-voicemail-id='{voicemail_id}']")
    expect(theirs.locator(".vm-status")).to_have_text("Assigned to Amy (1024)")
    expect(theirs).to_contain_text("Only Amy can play it")
    assert theirs.locator("audio, button").count() == 0
    bob.close()

    # Calling back needs the agent to be available: the error shows on the item.
    item.locator("button.vm-call").click()
    expect(item.locator(".error")).not_to_have_text("")

    item.locator("textarea.vm-notes").fill("Called back, booked a repair <b>Friday</b>")
    item.locator("button.vm-handled").click()
    expect(item).to_have_count(0)
    expect(page.locator("#vm-message")).to_have_text("Voicemail marked handled.")

    page.select_option("#vm-status", "handled")
    expect(item).to_be_visible()
    expect(item.locator(".notes").last).to_have_text("Called back, booked a repair <b>Friday</b>")
    expect(item).to_contain_text("by 1024")
    assert item.locator("b").count() == 0
    assert amy.errors == []

    with services(live_server).database.session() as session:
        voicemail = session.get(Voicemail, voicemail_id)
        assert voicemail.status == "handled"
        assert voicemail.notes == "Called back, booked a repair <b>Friday</b>"
        assert voicemail.handled_by_id == team["amy"]
        plays = session.scalars(
            select(RecordingPlayback).where(RecordingPlayback.recording_sid == recording_sid)
        ).all()
        assert plays and {play.agent_id for play in plays} == {team["amy"]}
    amy.close()


def test_call_record_shows_the_recording_with_its_pauses(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    sync_knowledge_base(live_server.app)
    amy_id = team["amy"]
    call_sid, customer_id = seed_call(
        live_server, amy_id, outcome="answered", disposition="repair_booked",
        wrapup_notes="Booked a TV repair <script>alert(1)</script>",
        answered_at=CALL_START + timedelta(seconds=40), queue_wait_seconds=35,
    )  # fmt: skip
    recording_sid = "RE" + uuid.uuid4().hex
    stored = store_wav(live_server, recording_sid, 3.0)
    paused = CALL_START + timedelta(minutes=2, seconds=3)
    with services(live_server).database.session() as session:
        session.add(
            CallRecording(
                call_sid=call_sid, leg_sid="CA" + uuid.uuid4().hex, recording_sid=recording_sid,
                agent_id=amy_id, customer_id=customer_id, queue="support", channels=2,
                status="completed", started_at=CALL_START + timedelta(seconds=41),
                ended_at=CALL_START + timedelta(minutes=5), duration_seconds=3,
                pauses=[{"paused_at": paused.isoformat(),
                         "resumed_at": (paused + timedelta(seconds=37)).isoformat(), "by": amy_id}],
            )
        )  # fmt: skip
        session.add(
            RecordingDownload(
                recording_sid=recording_sid, call_sid=call_sid, purpose="call",
                source_url=f"https://api.twilio.com/Recordings/{recording_sid}",
                expected_duration=3, status="done", completed_at=CALL_START, **stored,
            )
        )  # fmt: skip
        session.add(CallEvent(call_sid=call_sid, at=CALL_START, kind="call.started", detail={}))
        session.add(
            CallEvent(call_sid=call_sid, at=CALL_START + timedelta(seconds=5), kind="ivr.input",
                      flow="main", node="main_menu", input="2", detail={"digits": "2"})
        )  # fmt: skip
        session.add(
            KbLookup(at=CALL_START + timedelta(minutes=1), action="search", source="console",
                     call_sid=call_sid, agent_id=amy_id, query="warranty", results=4, detail={})
        )  # fmt: skip

    amy = Console(browser, live_server, "amy")
    page = amy.page
    # The console lists the call among amy's recent calls, linking to its record.
    row = page.locator(f"#recent-calls tr[data-call-sid='{call_sid}']")
    expect(row).to_contain_text("王伟")
    expect(row).to_contain_text("Repair booked")
    row.locator("a").click()
    expect(page).to_have_url(f"{live_server.url}/calls/{call_sid}")

    expect(page.locator("#call-caller")).to_have_text("王伟")
    expect(page.locator("#call-account")).to_have_text("ACME-1001")
    expect(page.locator("#call-started")).to_have_text("2026-11-20 10:00:00")
    expect(page.locator("#call-queue")).to_have_text("After-sales support")
    expect(page.locator("#call-waited")).to_have_text("35s")
    expect(page.locator("#call-agent")).to_have_text("Amy (1024)")
    expect(page.locator("#call-disposition")).to_have_text("Repair booked")
    expect(page.locator("#call-notes")).to_have_text("Booked a TV repair <script>alert(1)</script>")
    recording = page.locator(f"#call-recordings li[data-recording-sid='{recording_sid}']")
    expect(recording).to_contain_text("completed")
    expect(recording.locator(".pauses li")).to_have_text("paused 10:02:03–10:02:40 by agent 1024")
    expect(page.locator("#call-knowledge")).to_contain_text("searched “warranty” (4 found)")
    expect(page.locator("#call-timeline tr[data-kind='ivr.input']")).to_contain_text("main_menu")
    selector = f"#call-recordings li[data-recording-sid='{recording_sid}'] audio"
    assert amy.audio_duration(selector) == pytest.approx(3.0, abs=0.05)
    assert amy.fetch_status(selector)[:2] == [200, 206]
    assert page.locator("#call-record script").count() == 0
    assert amy.errors == [] and amy.dialogs == []
    amy.close()

    # Bob was not on the call: the page says so and shows nothing of it.
    bob = Console(browser, live_server, "bob")
    bob.page.goto(f"{live_server.url}/calls/{call_sid}")
    expect(bob.page.locator("#call-error")).to_have_text(
        "You may not see this call: it is not one of yours."
    )
    expect(bob.page.locator("#call-details")).to_be_hidden()
    expect(bob.page.locator("#call-recordings-card")).to_be_hidden()
    assert bob.page.locator("audio").count() == 0
    assert bob.errors == []
    bob.close()

    # The supervisor's wallboard lists every call, and the supervisor may open this one.
    lead = Console(browser, live_server, "lead")
    lead.page.goto(f"{live_server.url}/supervisor")
    expect(lead.page.locator(f"#recent-calls tr[data-call-sid='{call_sid}']")).to_contain_text(
        "1024"
    )
    lead.page.goto(f"{live_server.url}/calls/{call_sid}")
    expect(lead.page.locator("#call-recordings .pauses li")).to_have_count(1)
    lead.close()


def test_live_call_suggestions_recording_and_text_to_caller(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    sync_knowledge_base(live_server.app)
    amy = Console(browser, live_server, "amy")
    page = amy.page
    expect(page.locator("#connection")).to_have_text("Connected")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("available")

    # 王伟 enters his order number: the screen-pop suggests the articles for that step.
    caller = start_caller(
        live_server.app, live_server.url, WANG, ["2", "2", "12345678#"],
        dial_talk_seconds=900,  # eighteen real seconds in the conference at most
    )  # fmt: skip
    sid = caller.call_sid
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    suggestions = page.locator("#pop-knowledge button")
    expect(suggestions.first).to_be_visible()
    suggested = suggestions.first.inner_text()
    # Opened while ringing (the call is not the agent's yet): read, not linked to the call.
    suggestions.first.click()
    expect(page.locator("#kb-title")).to_have_text(suggested)
    expect(page.locator("#kb-send")).to_be_disabled()

    page.click("#accept")
    expect(page.locator("#current")).to_be_visible()
    expect(page.locator("#current-knowledge button").first).to_have_text(suggested)
    expect(page.locator("#current-state")).to_have_text("connected", timeout=15000)

    # The recording starts once caller and agent meet; the agent pauses and resumes it.
    indicator = page.locator("#rec-indicator")
    expect(indicator).to_have_text("● REC", timeout=15000)
    expect(page.locator("#rec-resume")).to_be_disabled()
    page.click("#rec-pause")
    expect(indicator).to_have_text("❚❚ Paused")
    expect(page.locator("#rec-pause")).to_be_disabled()
    page.click("#rec-resume")
    expect(indicator).to_have_text("● REC")

    # The suggestion opens in the panel; its link goes to the caller by text message.
    page.locator("#current-knowledge button").first.click()
    expect(page.locator("#kb-title")).to_have_text(suggested)
    expect(page.locator("#kb-send")).to_be_enabled()
    page.click("#kb-send")
    expect(page.locator("#kb-send-status")).to_have_text(f"Sent to {WANG}")

    page.click("#hangup")
    expect(page.locator("#status")).to_have_text("wrap-up", timeout=15000)
    caller.result()
    page.select_option("#disposition", "resolved")
    page.click("#wrapup-submit")
    expect(page.locator("#current")).to_be_hidden()
    expect(page.locator("#kb-send")).to_be_disabled()
    expect(page.locator(f"#recent-calls tr[data-call-sid='{sid}']")).to_be_visible()
    assert amy.errors == []

    with services(live_server).database.session() as session:
        lookups = session.scalars(select(KbLookup).where(KbLookup.call_sid == sid)).all()
        assert ("open", "suggestion") in [(item.action, item.source) for item in lookups]
        assert "send" in [item.action for item in lookups]
        recording = session.scalar(select(CallRecording).where(CallRecording.call_sid == sid))
        # Amy's pause, then the survey's (the agent hung up first: the caller's answers to
        # the post-call survey are not recorded).
        assert [pause["by"] for pause in recording.pauses] == [team["amy"], None]
        assert recording.pauses[1].get("reason") == "survey"
    amy.close()
