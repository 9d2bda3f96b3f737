"""The reports pages in headless Chromium: the scripted morning (tests/test_metrics.py) in
the tables and charts, the CSV links, and the IVR flow drawn with its counts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import CHROMIUM, LiveServer, shot
from playwright.sync_api import Browser, Page, expect
from test_reports import PASSWORD, callers, outbound_calls, prepare

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def log_in(page: Page, server: LiveServer, path: str) -> None:
    page.goto(f"{server.url}{path}")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#period")).to_be_visible()  # logged in, on the page
    page.goto(f"{server.url}{path}")  # the login keeps the page, not its query
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=15000)


def test_reports_page_shows_the_morning(
    browser: Browser, live_server: LiveServer, database_url: str, clock: Any
) -> None:
    prepare(live_server.app, database_url, clock)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, "/reports?from=2026-11-25&to=2026-11-25&interval=15m&queue=support")
    first = page.locator("#rows tr").nth(40)  # 10:00, the 41st quarter of the day
    expect(first.locator("td").first).to_have_text("11-25 10:00")
    support = live_server.app.extensions["callcenter"].settings.queues["support"].display_name
    expect(first.locator("td").nth(1)).to_have_text(support)  # the queue's name, not its code
    expect(first.locator("[data-field=offered]")).to_have_text("6")
    expect(first.locator("[data-field=service_level]")).to_have_text("50.0 %")
    expect(first.locator("[data-field=asa_seconds]")).to_have_text("21.7s")
    expect(first.locator("[data-field=aht_seconds]")).to_have_text("2m 23s")
    expect(first.locator("[data-field=csat_average]")).to_have_text("–")
    totals = page.locator("#totals tr").first
    expect(totals.locator("[data-field=offered]")).to_have_text("9")
    amy = page.locator('#agents tr[data-agent="amy"]')
    expect(amy.locator("[data-field=handled]")).to_have_text("3")
    expect(amy.locator("[data-field=aht_seconds_rank]")).to_have_text("25.0 %")
    # A figure stays on one line ("2m 33s" and "100.0 %" broke in two in a narrow column).
    lines = page.evaluate(
        """() => [...document.querySelectorAll("#agents td.num, #rows td.num")].map((td) => {
          const range = document.createRange();
          range.selectNodeContents(td);
          return [td.textContent, new Set([...range.getClientRects()].map((r) => r.top)).size];
        })"""
    )
    assert [cell for cell in lines if cell[1] > 1] == []
    # Every heading and every term of the legend is a name a supervisor reads, not a field.
    shown = page.locator("thead th, #definitions dt").all_inner_texts()
    assert [text for text in shown if "_" in text] == []
    rank = page.locator("#agents-head th", has_text="AHT rank")
    assert "peers" in (rank.get_attribute("title") or "")
    # Reports that share a field name define it each their own way: the queue table's AHT
    # is the queue report's, the staffing table's the one the advice used; the legend has both.
    from callcenter.metrics.definitions import definition
    from callcenter.reports.staffing import STAFFING_DEFINITIONS

    queue_aht = page.locator("#rows-head th", has_text="AHT")
    assert queue_aht.get_attribute("title") == definition("aht_seconds")
    staffing_aht = page.locator("#staffing-head th", has_text="AHT")
    assert staffing_aht.get_attribute("title") == STAFFING_DEFINITIONS["aht_seconds"]
    legend = page.locator("#definitions dd").all_inner_texts()
    assert definition("aht_seconds") in legend and STAFFING_DEFINITIONS["aht_seconds"] in legend
    header = page.locator("#rows-head th", has_text="Service level")
    assert "T = 20 seconds" in (header.get_attribute("title") or "")
    expect(page.locator("#definitions dt").first).to_be_visible()
    # Charts drew (Chart.js keeps its instances; a canvas with no chart has none).
    drawn = page.evaluate(
        "['chart-volume','chart-sl','chart-asa','chart-abandon','chart-agents','chart-staffing']"
        ".map((id) => { const c = Chart.getChart(id); return c ? c.data.datasets.length : 0; })"
    )
    assert all(drawn), drawn
    volume = page.evaluate("Chart.getChart('chart-volume').data.datasets[0].data[40]")
    assert volume == 6
    staffing = page.locator("#staffing tr").nth(10)  # 10:00 by the hour
    expect(staffing.locator("[data-field=agents_needed]")).to_have_text("2")
    href = page.locator("#csv-queues").get_attribute("href")
    assert (
        href
        == "/api/reports/queues?from=2026-11-25&to=2026-11-25&interval=15m&queue=support&format=csv"
    )
    csv_text = page.evaluate(f"fetch('{href}').then((r) => r.text())")
    assert csv_text.lstrip("\ufeff").startswith("interval_start,queue,offered,")
    page.screenshot(path=shot("reports-page"), full_page=True)
    assert errors == []


def test_reports_page_counts_each_agents_outbound_calls(
    browser: Browser, live_server: LiveServer, database_url: str, clock: Any
) -> None:
    prepare(live_server.app, database_url, clock, more=outbound_calls)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, live_server, "/reports?from=2026-11-25&to=2026-11-25&interval=1h")
    amy = page.locator('#agents tr[data-agent="amy"]')
    expect(amy.locator("[data-field=outbound]")).to_have_text("2")
    expect(amy.locator("[data-field=outbound_talk_seconds]")).to_have_text("2m 15s")
    expect(page.locator('#agents tr[data-agent="bob"] [data-field=outbound]')).to_have_text("0")
    heading = page.locator("#agents-head th", has_text="Outbound").first
    assert "placed" in (heading.get_attribute("title") or "")
    page.screenshot(path=shot("reports-outbound"), full_page=True)
    page.close()


def test_reports_page_shows_as_percentages_what_the_server_lists(
    browser: Browser, live_server: LiveServer, database_url: str, clock: Any
) -> None:
    """The page formats from each report's `percentages`, not from a list of its own: with
    the list changed on the way (service level and AHT rank out, ASA in), so do the cells."""
    import json

    prepare(live_server.app, database_url, clock)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    def change(route: Any, drop: tuple[str, ...], add: tuple[str, ...]) -> None:
        body = route.fetch().json()
        assert set(drop) <= set(body["percentages"])  # what the server sends
        body["percentages"] = [n for n in body["percentages"] if n not in drop] + list(add)
        route.fulfill(json=body)

    page.route("**/api/reports/queues?*", lambda r: change(r, ("service_level",), ("asa_seconds",)))
    page.route("**/api/reports/agents?*", lambda r: change(r, ("aht_seconds_rank",), ()))
    log_in(page, live_server, "/reports?from=2026-11-25&to=2026-11-25&interval=15m&queue=support")
    first = page.locator("#rows tr").nth(40)
    expect(first.locator("[data-field=service_level]")).to_have_text("0.50")
    expect(first.locator("[data-field=asa_seconds]")).to_have_text("2166.7 %")
    expect(first.locator("[data-field=abandon_rate]")).to_have_text(re.compile(r" %$"))
    amy = page.locator('#agents tr[data-agent="amy"]')
    expect(amy.locator("[data-field=aht_seconds_rank]")).to_have_text("0.25")
    expect(amy.locator("[data-field=fcr_rank]")).to_have_text(re.compile(r" %$|^–$"))
    assert (
        json.loads(
            page.evaluate("JSON.stringify(Chart.getChart('chart-sl').options.scales.y.max ?? null)")
        )
        is None
    )


def test_ivr_diagram_draws_the_flow_with_counts(
    browser: Browser, live_server: LiveServer, database_url: str, clock: Any
) -> None:
    prepare(live_server.app, database_url, clock)
    callers(live_server.app)
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "/reports/ivr?from=2026-11-25&to=2026-11-25&flow=main")
    flow = page.locator('section[data-flow="main"] svg')
    expect(flow).to_be_visible()
    menu = flow.locator('g.ivr-node[data-node="main_menu"]')
    expect(menu).to_have_attribute("data-reached", "5")
    expect(menu.locator("text").nth(1)).to_have_text("reached 5")
    language = flow.locator('g.ivr-node[data-node="choose_language"]')
    expect(language.locator("text.drop")).to_have_text("hung up 1")
    edge = flow.locator('g.ivr-edge[data-from="main_menu"][data-exit="key:0"]')
    expect(edge).to_have_attribute("data-to", "support_queue")
    expect(edge.locator("text")).to_have_text("key 0: 1")
    speech = flow.locator('g.ivr-edge[data-from="main_menu"][data-exit="speech:3"] text')
    expect(speech).to_have_text("said “billing”: 1")
    # Every exit of the YAML is drawn, used or not; the goto to the repairs flow leads out.
    assert flow.locator("g.ivr-edge").count() >= 20
    expect(flow.locator('g.ivr-node[data-node="repairs.start"]')).to_have_count(0)
    assert flow.locator("g.ivr-node.outside").count() >= 1
    box = flow.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 300
    # The counts' definitions, as the API states them, in the page's legend.
    from callcenter.reports.ivr import IVR_DEFINITIONS

    terms = page.locator("#definitions dt").all_inner_texts()
    assert terms == ["Reached", "Exits", "No answer", "Invalid", "Hung up", "Ended here"]
    expect(page.locator("#definitions dd").nth(4)).to_have_text(IVR_DEFINITIONS["hung_up"])
    page.screenshot(path=shot("reports-ivr"), full_page=True)
    assert errors == []


@pytest.mark.parametrize("path", ["/reports", "/reports/ivr"])
def test_report_pages_open_on_the_centers_today(
    browser: Browser, live_server: LiveServer, database_url: str, clock: Any, path: str
) -> None:
    """Without dates in the address, a report page shows the center's today (its time zone,
    the app's clock), not the browser's: a browser far from the center saw another day."""
    prepare(live_server.app, database_url, clock)  # the app's clock: 2026-11-25, Shanghai
    context = browser.new_context(timezone_id="Pacific/Pago_Pago")  # UTC-11
    page = context.new_page()
    log_in(page, live_server, path)
    expect(page.locator("input[name=from]")).to_have_value("2026-11-25")
    expect(page.locator("input[name=to]")).to_have_value("2026-11-25")
    context.close()
