"""The dashboard (docs/semantics.md, HTTP API and Dashboard) in a real headless Chromium against a real
``montalaq serve`` replaying the SPY session with a 10-minute hole at 300x: tiles, the
candlestick chart following new bars, the 1m pair's breaker opened by the hole and closed
from the page, "run agents now", the token's handling and no console errors; and against
the router mounted under a prefix in a host app (in a thread): relative URLs, escaping,
an API that goes away and comes back, the refresh interval. Screenshots:
``test-artifacts/dashboard-*.png``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from dashboard_support import (
    CHROMIUM,
    NS,
    REPLAY_SPEED,
    T1330,
    Dashboard,
    GapFile,
    Hosted,
    Served,
    ThreadedServer,
    wait_until,
)
from montalaq.feeds import ReplayProvider
from montalaq.records import Finding
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Debian's chromium is not installed at {CHROMIUM} (scripts/ensure_system.sh installs it)",
    ),
    pytest.mark.slow,  # a server and a browser: scheduled first in parallel runs
]

OpenDashboard = Callable[[str], Dashboard]
SOME_BARS = re.compile(r"^[1-9]\d*$")
XSS = '<img src=x onerror="window.__xss=1">'

# Colours of the candles (style.css: --chart-up / --chart-down), as RGB.
UP_RGB = (0x1A, 0x7F, 0x37)
DOWN_RGB = (0xC6, 0x28, 0x28)

COUNT_CANDLE_PIXELS = """([up, down]) => {
  const c = document.getElementById("chart");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const px = [d[i], d[i + 1], d[i + 2]];
    if (d[i + 3] === 255 && (px.every((v, k) => v === up[k]) || px.every((v, k) => v === down[k]))) n++;
  }
  return n;
}"""


def attribute_if(locator: Locator, name: str, accept: Callable[[str], bool]) -> str | None:
    """The attribute's value when it is non-empty and ``accept`` takes it, else None."""
    value = locator.get_attribute(name)
    return value if value and accept(value) else None


def number(text: str | None) -> float:
    assert text is not None
    return float(text.replace(",", ""))


# ------------------------------------------------------------------------------ in-process app
# (first: the module's `montalaq serve` starts with the first test that asks for it)


def test_the_dashboard_works_under_a_mount_prefix(
    host_server: tuple[ThreadedServer, Served], open_dashboard: OpenDashboard
) -> None:
    _, served = host_server
    dash = open_dashboard(served.page_url())
    expect(dash.page.locator('#tiles .tile[data-symbol="SPY"]')).to_have_attribute("data-loaded", "true")
    expect(dash.page.locator("#chart")).to_have_attribute("data-bars", SOME_BARS)
    expect(dash.page.locator('#pairs tr[data-pair="SPY/15m"]')).to_be_visible()
    # Every URL is relative: the page, its files and every API call stay under the prefix.
    assert any(u.startswith(served.base_url + "static/app.js") for u in dash.requests)
    assert any(u.startswith(served.base_url + "api/ingestion/status") for u in dash.requests)
    assert [u for u in dash.requests if not u.startswith(served.base_url)] == []
    assert dash.errors == []


def test_pairs_outside_their_market_session_show_closed(
    gap_file: GapFile, tmp_path: Path, open_dashboard: OpenDashboard
) -> None:
    """SPY on the XNYS calendar: 40 minutes of the session, then 22:00 UTC (two hours after
    the close): every pair is CLOSED in the table and the provider summary, not RED."""
    from fastapi import FastAPI

    from montalaq.api import create_router

    settings = Settings.from_env(
        {"SYMBOL": "SPY", "MARKET_CALENDAR": "XNYS", "ESCALATION_EVAL_INTERVAL_SEC": "30"}
    )
    with Store(f"sqlite:///{tmp_path / 'closed.db'}") as store:
        feed = ReplayProvider(gap_file.path, symbol="SPY", name="Replay", start_ns=T1330)
        service = Service(settings, store=store, providers={"SPY": feed})
        try:
            for t in range(T1330 + 30 * NS, T1330 + 40 * 60 * NS + 1, 30 * NS):
                service.step(t)
            evening = T1330 + int(8.5 * 3600) * NS  # 22:00 UTC, 18:00 in New York
            for k in range(3):
                service.step(evening + 60 * k * NS)
            assert {p["freshness"] for p in service.ingestion_status()["pairs"]} == {"CLOSED"}
            app = FastAPI()
            app.include_router(create_router(service, token="t"), prefix="/m")
            server = ThreadedServer(app)
            port = server.start()
            try:
                dash = open_dashboard(Served(f"http://127.0.0.1:{port}/m/", "t").page_url())
                for tf in ("1m", "5m", "15m"):
                    badge = dash.page.locator(f'#pairs tr[data-pair="SPY/{tf}"] .fresh-closed')
                    expect(badge).to_have_text("CLOSED")
                expect(dash.page.locator('.provider[data-provider="Replay"]')).to_contain_text("3 closed")
                dash.screenshot("closed")
                assert dash.errors == []
            finally:
                server.stop()
        finally:
            service.close()


def test_a_process_without_the_scheduler_says_so_and_shows_its_pairs_unknown(
    gap_file: GapFile, tmp_path: Path, open_dashboard: OpenDashboard
) -> None:
    """Issue 16: a web process that runs no scheduler (create_app(run_scheduler=False),
    Django without RUN_SCHEDULER) showed every pair RED; it says why in a note and shows
    them UNKNOWN (grey)."""
    from montalaq.api import create_app

    settings = Settings.from_env({"SYMBOL": "SPY"})
    with Store(f"sqlite:///{tmp_path / 'web.db'}") as store:
        feed = ReplayProvider(gap_file.path, symbol="SPY", name="Replay", start_ns=T1330)
        service = Service(settings, store=store, providers={"SPY": feed})
        server = ThreadedServer(create_app(service=service, token="t", run_scheduler=False))
        port = server.start()
        try:
            dash = open_dashboard(Served(f"http://127.0.0.1:{port}/", "t").page_url())
            note = dash.page.locator("#no-scheduler")
            expect(note).to_be_visible()
            expect(note).to_contain_text("This process runs no scheduler (create_app(run_scheduler=False))")
            for tf in ("1m", "5m", "15m"):
                badge = dash.page.locator(f'#pairs tr[data-pair="SPY/{tf}"] .fresh-unknown')
                expect(badge).to_have_text("UNKNOWN")
            expect(dash.page.locator("#pairs .fresh-red")).to_have_count(0)
            expect(dash.page.locator('.provider[data-provider="Replay"]')).to_contain_text("0 red, 3 unknown")
            dash.screenshot("no-scheduler")
            assert dash.errors == []
        finally:
            server.stop()
            service.close()


def test_untrusted_text_is_shown_as_text_never_as_html(
    hosted: Hosted, host_server: tuple[ThreadedServer, Served], open_dashboard: OpenDashboard
) -> None:
    _, served = host_server
    hosted.service.store.add_finding(
        Finding(
            ts_utc=datetime.now(UTC),
            agent=XSS,
            symbol="SPY",
            score=1.0,
            label=XSS,
            details={"note": XSS, XSS: "key"},
        )
    )
    dash = open_dashboard(served.page_url())
    row = dash.page.locator("#findings tbody tr").filter(has_text="onerror").first
    expect(row.locator("td").nth(4)).to_have_text(XSS)
    expect(row.locator("td").nth(1)).to_have_text(XSS)
    expect(row.locator("td").nth(5)).to_contain_text(f"note={XSS}")
    expect(row.locator("td").nth(5)).to_contain_text(f"{XSS}=key")
    assert dash.page.locator("img").count() == 0
    assert dash.page.evaluate("typeof window.__xss") == "undefined"
    assert dash.errors == []


def test_an_unreachable_api_shows_a_banner_until_it_comes_back(
    host_server: tuple[ThreadedServer, Served], open_dashboard: OpenDashboard
) -> None:
    server, served = host_server
    dash = open_dashboard(served.page_url())
    banner = dash.page.locator("#banner")
    updated = dash.page.locator("#updated")
    expect(updated).to_have_attribute("data-updated", re.compile(r"^\d{4}-"))
    expect(banner).to_be_hidden()

    server.stop()

    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The API is unreachable")
    expect(updated).to_have_class("stale")
    before = updated.get_attribute("data-updated")
    dash.screenshot("unreachable")

    server.start()  # same port

    expect(banner).to_be_hidden()
    expect(updated).not_to_have_class("stale")
    expect(updated).not_to_have_attribute("data-updated", before or "")


@pytest.mark.parametrize(
    ("refresh", "shown"),
    [("", "5"), ("abc", "5"), ("7", "7"), ("0.2", "1"), ("60", "10")],
    ids=["default", "not-a-number", "in-range", "below-1", "above-10"],
)
def test_the_refresh_interval_comes_from_the_url_and_is_clamped(
    host_server: tuple[ThreadedServer, Served], open_dashboard: OpenDashboard, refresh: str, shown: str
) -> None:
    _, served = host_server
    query = f"?refresh={refresh}" if refresh else ""
    dash = open_dashboard(served.base_url + query)
    expect(dash.page.locator("#refresh-every")).to_have_text(f"auto-refresh every {shown} s")


# ------------------------------------------------------------------------------ montalaq serve


def test_the_token_moves_from_the_url_fragment_to_session_storage(
    served: Served, open_dashboard: OpenDashboard
) -> None:
    dash = open_dashboard(served.page_url())
    expect(dash.page.locator("#token-state")).to_have_attribute("data-state", "set")
    assert "#" not in dash.page.url
    assert "token" not in dash.page.url
    assert dash.page.evaluate("sessionStorage.getItem('montalaq.token')") == served.token


def test_the_tiles_show_each_symbols_signals(
    served: Served, open_dashboard: OpenDashboard, gap_file: GapFile
) -> None:
    dash = open_dashboard(served.page_url())
    tile = dash.page.locator('#tiles .tile[data-symbol="SPY"]')
    expect(tile).to_have_attribute("data-loaded", "true")
    last = number(tile.locator('dd[data-field="last_price"]').text_content())
    assert gap_file.price_min <= last <= gap_file.price_max
    assert number(tile.locator('dd[data-field="trades_cached"]').text_content()) > 0
    # The sample has no quotes: bid and ask are undefined and shown as a dash, not "null".
    expect(tile.locator('dd[data-field="best_bid"]')).to_have_text("—")
    expect(tile.locator('dd[data-field="best_ask"]')).to_have_text("—")


def test_the_chart_draws_the_bars_and_follows_new_ones(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    page = dash.page
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-bars", re.compile(r"^([5-9]|\d\d+)$"))
    first = chart.get_attribute("data-last-start")
    assert first is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", first), first
    # At 300x a 1m bar closes every 0.2 s: a later refresh (every 1 s) draws a newer bar.
    later = wait_until(lambda: attribute_if(chart, "data-last-start", lambda s: s > first), "a newer bar")
    assert served.get("api/bars?symbol=SPY&tf=1m&limit=1")["bars"][-1]["start"] >= later
    assert page.evaluate(COUNT_CANDLE_PIXELS, [UP_RGB, DOWN_RGB]) > 200
    dash.screenshot("chart")


def test_the_timeframe_selector_switches_the_chart(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    page = dash.page
    expect(page.locator("#chart-tf option")).to_have_text(["1m", "5m", "15m"])
    expect(page.locator("#chart")).to_have_attribute("data-bars", SOME_BARS)
    page.select_option("#chart-tf", "5m")
    expect(page.locator("#chart")).to_have_attribute("aria-label", re.compile(r"SPY 5m, \d+ bars"))
    shown = page.locator("#chart").get_attribute("data-last-start")
    starts = {b["start"] for b in served.get("api/bars?symbol=SPY&tf=5m&limit=1000")["bars"]}
    assert shown in starts


def test_the_operations_panels_show_the_state_alerts_channels_and_errors(
    served: Served, open_dashboard: OpenDashboard
) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    page = dash.page
    expect(page.locator("#opstate")).to_have_attribute("data-state", "ACTIVE", timeout=30_000)
    expect(page.locator("#opstate-badge")).to_have_text("ACTIVE")
    label = page.locator("#replay-label")
    expect(label).to_be_visible()
    expect(label).to_contain_text("Replay, not a live feed: SPY from spy_gap.csv")
    expect(label).to_contain_text(f"at {REPLAY_SPEED:g}x")
    # The hole makes the 1m pair RED and opens its breaker: both alerts fire (and show).
    firing = page.locator('#alerts tr[data-rule="pair_breaker_open"][data-active="1"]')
    expect(firing).to_be_visible(timeout=30_000)
    api_alerts = served.get("api/alerts")
    assert "pair_breaker_open" in {a["rule"] for a in api_alerts["active"]}
    expect(page.locator("#channels tbody")).to_contain_text("no channel enabled")
    expect(page.locator("#outbox")).to_contain_text("pending")
    expect(page.locator("#errors tbody tr")).not_to_have_count(0)
    dash.screenshot("operations")

    firing.get_by_role("button", name="Ack").click()

    expect(page.locator("#message")).to_have_text("Alert acknowledged.")
    expect(firing).to_contain_text("FIRING, acked")
    assert any(
        a["acknowledged"] for a in served.get("api/alerts")["active"] if a["rule"] == "pair_breaker_open"
    )


def test_the_hole_opens_the_1m_breaker_and_the_operator_closes_it_from_the_page(
    served: Served, open_dashboard: OpenDashboard
) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    row = dash.page.locator('#pairs tr[data-pair="SPY/1m"]')
    expect(row).to_have_attribute("data-breaker", "open", timeout=30_000)
    button = row.get_by_role("button", name="Close breaker")
    expect(button).to_be_visible()
    for tf in ("5m", "15m"):
        expect(dash.page.locator(f'#pairs tr[data-pair="SPY/{tf}"]')).to_have_attribute(
            "data-breaker", "closed"
        )
    expect(dash.page.locator("#providers")).to_contain_text("1 breaker open")
    dash.screenshot("breaker-open")

    button.click()

    expect(dash.page.locator("#message")).to_have_text("Breaker SPY 1m closed.")
    expect(row).to_have_attribute("data-breaker", "closed")
    expect(button).to_be_hidden()
    pair = next(p for p in served.get("api/ingestion/status")["pairs"] if p["timeframe"] == "1m")
    assert pair["breaker_open"] is False
    dash.screenshot("breaker-closed")


def test_run_agents_now_shows_the_findings_it_returned(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    page = dash.page
    # trend_score returns a finding on every run once its five features are defined
    # (two closed 15m bars: at most 30 virtual minutes, 6 s at 300x).
    expect(page.locator("#trend")).to_have_attribute("data-p-up", re.compile(r"^0\.\d+|^1$"), timeout=30_000)
    result = page.locator("#run-result")

    page.get_by_role("button", name="Run agents now").click()

    expect(result).to_have_attribute("data-count", re.compile(r"^[1-9]\d*$"))
    count = int(result.get_attribute("data-count") or "0")
    expect(result).to_contain_text(f"{count} finding")
    fresh = page.locator("#findings tbody tr.just-run")
    expect(fresh).to_have_count(count)
    agents = {fresh.nth(i).locator("td").nth(1).text_content() for i in range(count)}
    assert "trend_score" in agents
    dash.screenshot("findings")


def test_a_post_without_a_token_asks_for_one(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(with_token=False))
    expect(dash.page.locator("#token-state")).to_have_attribute("data-state", "missing")

    dash.page.get_by_role("button", name="Run agents now").click()

    message = dash.page.locator("#message")
    expect(message).to_have_attribute("data-kind", "error")
    expect(message).to_contain_text("no API token")


def test_a_wrong_token_is_shown_as_not_authorised(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(with_token=False))
    dash.page.fill("#token-input", "not-the-token")
    dash.page.get_by_role("button", name="Use token").click()
    expect(dash.page.locator("#token-state")).to_have_attribute("data-state", "set")

    dash.page.get_by_role("button", name="Run agents now").click()

    message = dash.page.locator("#message")
    expect(message).to_have_attribute("data-kind", "error")
    expect(message).to_contain_text("Not authorised (HTTP 401)")


def test_the_page_logs_no_console_errors(served: Served, open_dashboard: OpenDashboard) -> None:
    dash = open_dashboard(served.page_url(refresh_s=1))
    page = dash.page
    updated = page.locator("#updated")
    seen: set[str] = set()
    for _ in range(3):  # three refreshes
        seen.add(
            wait_until(lambda: attribute_if(updated, "data-updated", lambda u: u not in seen), "a refresh")
        )
    page.get_by_role("button", name="Run agents now").click()
    expect(page.locator("#run-result")).to_have_attribute("data-count", re.compile(r"^\d+$"))
    expect(page.locator("#banner")).to_be_hidden()
    assert dash.errors == []
