"""The HTTP API (docs/semantics.md, "HTTP API") through a real FastAPI app over a real
service replaying the bundled SPY day into a temporary SQLite store: every endpoint's
shape, parameter errors, the token, the analysis cache, mounting under a prefix, /metrics,
offline docs, the standalone app's lifespan, and the end-to-end gap (AMBER -> RED, WARN ->
ERROR -> CRITICAL, one breaker, dry-run notifications) seen and closed through the API."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from api_fixtures import (
    AUTH,
    LOOKS_LIKE_TIME,
    TOKEN,
    Z_TIME,
    FakeClock,
    client,
    client_for,
    host_app,
    spy_trades,
    stepped_service,
    walk,
)
from prometheus_client.parser import text_string_to_metric_families
from test_service import ENV, HOLE_START, NS, SIGNALS_KEYS, SIGNALS_TF_KEYS, T1330, drive, gap_run

import montalaq
from montalaq.api import STATIC_DIR, ResponseCache, app_router, create_app, create_router
from montalaq.api.metrics import FRESHNESS_VALUE, LEVEL_VALUE
from montalaq.feeds import ReplayProvider
from montalaq.notify import notifier_from_settings
from montalaq.records import Finding
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store

if TYPE_CHECKING:
    from fastapi.testclient import TestClient  # api_fixtures imports it at run time

WARM_MINUTES = 130  # > 120 one-minute bars: the bars endpoint's default limit is reached
FRESH_MINUTES = 35


def more(service: Service, minutes: int = 3) -> None:
    """Step ``service`` (a ``fresh`` one) ``minutes`` further: newer analyses exist after."""
    start = T1330 + FRESH_MINUTES * 60 * NS
    drive(service, start + 30 * NS, start + minutes * 60 * NS)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """13:30-15:40 replayed in 30 s cycles (read-only tests)."""
    service = stepped_service(tmp_path_factory.mktemp("api") / "warm.db", WARM_MINUTES)
    yield service
    service.store.close()


@pytest.fixture(scope="module")
def api(warm: Service) -> TestClient:
    return client_for(warm)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Service]:
    """13:30-14:05 replayed (tests that change things); the trend score is defined from
    14:00:02, when the second 15m bar closes."""
    service = stepped_service(tmp_path / "fresh.db", FRESH_MINUTES)
    yield service
    service.store.close()


def ns(iso_z: str) -> int:
    """An API time (ISO-8601 with Z) as int ns."""
    return montalaq._time.to_ns(datetime.fromisoformat(iso_z.replace("Z", "+00:00")))


def ok_json(api: TestClient, path: str) -> Any:
    r = api.get(path)
    assert r.status_code == 200, (path, r.text)
    assert r.headers["content-type"] == "application/json"
    return r.json()


# ------------------------------------------------------------------------------ shapes


def test_health_has_the_spec_shape(api: TestClient, warm: Service) -> None:
    h = ok_json(api, "/health")
    assert (h["status"], h["symbols"]) == ("ok", ["SPY"])
    assert h["trades_cached"] == {"SPY": warm.engine.trades_cached("SPY")}
    assert set(h["agents"]) == {"rvol_spike", "trend_score"}
    for agent in h["agents"].values():
        assert set(agent) == {"status", "last_run"}
        assert agent["status"] == "ok"
        assert Z_TIME.match(agent["last_run"])


def test_db_health_is_ok_on_a_live_database(api: TestClient) -> None:
    assert ok_json(api, "/db-health") == {"ok": True}


@pytest.fixture(scope="module")
def db_down() -> Iterator[TestClient]:
    """An API over a service whose database (PostgreSQL on port 1) never answers."""
    store = Store("postgresql+psycopg://montalaq:s3cret-pw@127.0.0.1:1/montalaq_nodb")
    service = Service(Settings.from_env(ENV), store=store, providers={})
    # An agent's finding while the database is down: buffered in memory by the store.
    store.add_finding(Finding(datetime(2026, 3, 2, 14, 31, tzinfo=UTC), "rvol_spike", "SPY", 3.5, "spike"))
    assert store.buffered_findings == 1
    yield client_for(service)
    store.close()


def test_db_health_is_503_without_the_password_when_the_database_is_down(db_down: TestClient) -> None:
    r = db_down.get("/db-health")
    assert r.status_code == 503
    body = r.json()
    assert body["ok"] is False
    assert body["error"].startswith("OperationalError")
    assert "s3cret-pw" not in r.text


def test_an_endpoint_that_needs_the_database_is_503_while_it_is_down(db_down: TestClient) -> None:
    r = db_down.get("/api/analysis/history?pair=SPY&tf=1m")
    assert r.status_code == 503
    assert r.json() == {"detail": "database unavailable (OperationalError)"}
    assert "s3cret-pw" not in r.text


def test_findings_come_from_the_memory_buffer_while_the_database_is_down(db_down: TestClient) -> None:
    r = db_down.get("/findings")
    assert r.status_code == 200
    [finding] = r.json()["findings"]
    assert (finding["agent"], finding["symbol"], finding["score"], finding["label"]) == (
        "rvol_spike",
        "SPY",
        3.5,
        "spike",
    )
    assert finding["ts_utc"] == "2026-03-02T14:31:00Z"


def test_agents_lists_the_registry(api: TestClient) -> None:
    agents = ok_json(api, "/agents")["agents"]
    assert [a["agent"] for a in agents] == ["rvol_spike", "trend_score"]
    for a in agents:
        assert set(a) == {
            "agent",
            "name",
            "interval_s",
            "description",
            "status",
            "last_run",
            "last_error",
            "runs",
            "errors",
        }
        assert a["interval_s"] == 60.0
        assert a["runs"] >= WARM_MINUTES
        assert (a["errors"], a["last_error"]) == (0, None)


def test_findings_are_the_stores_newest_first_and_limited(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/findings?symbol=SPY&limit=3")["findings"]
    expected = [f.to_dict() for f in warm.latest_findings("SPY", 3)]
    assert len(got) == 3
    assert got == expected
    assert [f["ts_utc"] for f in got] == sorted((f["ts_utc"] for f in got), reverse=True)
    assert set(got[0]) == {"id", "ts_utc", "agent", "symbol", "score", "label", "details", "correlation_id"}


def test_findings_default_to_every_symbol_and_50(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/findings")["findings"]
    assert len(got) == min(50, len(warm.latest_findings(None, 1000)))


def test_signals_have_the_spec_keys(api: TestClient, warm: Service) -> None:
    s = ok_json(api, "/signals?symbol=SPY")
    assert set(s) == SIGNALS_KEYS
    assert s == warm.signals("SPY")
    assert s["trades_cached"] == warm.engine.trades_cached("SPY") > 0


def test_signals_tf_have_the_spec_keys(api: TestClient, warm: Service) -> None:
    s = ok_json(api, "/signals_tf?symbol=SPY")
    assert set(s) == SIGNALS_TF_KEYS
    assert s == warm.signals_tf("SPY")
    assert s["atr_1m"] is not None


def test_debug_state_is_the_engine_state_with_the_provider(api: TestClient, warm: Service) -> None:
    d = ok_json(api, "/debug/state?symbol=SPY")
    assert d["provider"] == "AllTick"
    assert d["trade_counts"]["ACCEPTED"] == warm.stats.trades_ingested
    assert set(d["timeframes"]) == {"1m", "5m", "15m"}
    # The contract's keys (docs/semantics.md, "HTTP API") beside the engine's state.
    assert {
        "symbol",
        "trades_cached",
        "last_trade",
        "last_trade_age_s",
        "bars_1m_count",
        "bars_1m_tail",
    } <= set(d)
    assert d["trades_cached"] == warm.engine.trades_cached("SPY")
    assert ns(d["last_trade"][0]) == d["last_trade_ns"]
    assert d["last_trade"][1] == d["last_price"]
    assert d["last_trade_age_s"] >= 0
    assert d["bars_1m_count"] == len(warm.engine.bars("SPY", "1m"))
    assert len(d["bars_1m_tail"]) == 5
    latest = warm.engine.latest("SPY", "1m")
    assert latest is not None
    assert ns(d["bars_1m_tail"][-1]["start"]) == latest.start_ns


def test_debug_features_show_each_timeframe_and_the_trend(api: TestClient, warm: Service) -> None:
    d = ok_json(api, "/debug/features?symbol=SPY")
    bar = warm.engine.latest("SPY", "1m")
    assert bar is not None
    one = d["timeframes"]["1m"]
    assert (one["close"], one["atr"]) == (bar.close, pytest.approx(bar.atr))
    assert ns(one["bar_start"]) == bar.start_ns
    assert d["trend"]["posture"] in {"FLAT", "LONG", "SHORT"}
    assert 0.0 < d["trend"]["p_up"] < 1.0
    # The contract's flat keys and bars (docs/semantics.md, "HTTP API") beside the view per
    # timeframe.
    for tf in ("1m", "5m", "15m"):
        for name in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
            assert d[f"{name}_{tf}"] == d["timeframes"][tf][name]
        assert ns(d["bars"][tf]["start"]) == ns(d["timeframes"][tf]["bar_start"])
    assert d["atr_1m"] == pytest.approx(bar.atr)


def test_latest_analysis_is_of_the_newest_closed_bar(api: TestClient, warm: Service) -> None:
    a = ok_json(api, "/api/analysis/latest?pair=SPY&tf=5m")
    bar = warm.engine.latest("SPY", "5m")
    assert bar is not None
    expected = warm.latest_analysis("SPY", "5m")
    assert expected is not None
    assert a == expected.to_dict()
    assert ns(a["bar_ts"]) == bar.start_ns
    assert a["status"] == "COMPLETE"


def test_latest_analysis_accepts_any_spelling_of_a_timeframe(api: TestClient) -> None:
    assert ok_json(api, "/api/analysis/latest?pair=SPY&tf=300s") == ok_json(
        api, "/api/analysis/latest?pair=SPY&tf=5m"
    )


def test_latest_analysis_is_404_before_the_first_analysis(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "empty.db", 0)
    try:
        r = client_for(service).get("/api/analysis/latest?pair=SPY&tf=1m")
    finally:
        service.store.close()
    assert r.status_code == 404
    assert r.json() == {"detail": "pair: no analysis yet for SPY 1m"}


def test_bars_are_empty_before_the_first_trade(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "nobars.db", 0)
    try:
        got = ok_json(client_for(service), "/api/bars?symbol=SPY&tf=15m")
    finally:
        service.store.close()
    assert got == {"symbol": "SPY", "timeframe": "15m", "bars": [], "open_bar": None}


def test_analysis_history_is_newest_bar_first_and_limited(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/api/analysis/history?pair=SPY&tf=1m&limit=7")
    assert got == [a.to_dict() for a in warm.analysis_history("SPY", "1m", 7)]
    assert len(got) == 7
    assert [a["bar_ts"] for a in got] == sorted((a["bar_ts"] for a in got), reverse=True)


def test_analysis_history_defaults_to_100(api: TestClient) -> None:
    assert len(ok_json(api, "/api/analysis/history?pair=SPY&tf=1m")) == 100


def test_ingestion_status_lists_every_pair_and_the_providers_summary(api: TestClient) -> None:
    status = ok_json(api, "/api/ingestion/status")
    assert [(p["symbol"], p["timeframe"]) for p in status["pairs"]] == [
        ("SPY", "1m"),
        ("SPY", "5m"),
        ("SPY", "15m"),
    ]
    for p in status["pairs"]:
        assert (p["provider"], p["freshness"], p["escalation_level"], p["breaker_open"]) == (
            "AllTick",
            "GREEN",
            "INFO",
            False,
        )
        assert Z_TIME.match(p["last_tick"])
        assert Z_TIME.match(p["last_eval"])
    assert status["providers_summary"] == {
        "AllTick": {
            "pairs": 3,
            "green": 3,
            "amber": 0,
            "red": 0,
            "closed": 0,
            "unknown": 0,
            "breakers_open": 0,
        }
    }


def test_bars_are_the_newest_closed_bars_oldest_first_with_features(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/api/bars?symbol=SPY&tf=1m&limit=5")
    assert (got["symbol"], got["timeframe"]) == ("SPY", "1m")
    bars = warm.engine.bars("SPY", "1m")
    feats = warm.engine.features("SPY", "1m")
    assert [ns(b["start"]) for b in got["bars"]] == bars.start_ns[-5:].tolist()
    assert [b["close"] for b in got["bars"]] == bars.close[-5:].tolist()
    assert [b["trades"] for b in got["bars"]] == bars.trades[-5:].tolist()
    assert [b["atr"] for b in got["bars"]] == pytest.approx(feats.atr[-5:].tolist())
    assert set(got["bars"][0]) == {
        "start",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "trades",
        "atr",
        "mom_bps",
        "px_vs_vwap_bps",
        "rvol",
    }


def test_bars_carry_the_open_bar(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/api/bars?symbol=SPY&tf=5m&limit=1")
    ob = warm.engine.open_bar("SPY", "5m")
    assert ob is not None
    assert set(got["open_bar"]) == {"start", "open", "high", "low", "close", "volume", "trades"}
    assert (got["open_bar"]["open"], got["open_bar"]["trades"]) == (ob.open, ob.trades)


def test_bars_default_to_the_newest_120(api: TestClient, warm: Service) -> None:
    got = ok_json(api, "/api/bars?symbol=SPY&tf=1m")
    assert len(warm.engine.bars("SPY", "1m")) > 120
    assert len(got["bars"]) == 120


def test_bars_features_are_null_during_warm_up(api: TestClient) -> None:
    first = ok_json(api, "/api/bars?symbol=SPY&tf=1m&limit=1000")["bars"][0]
    assert first["mom_bps"] is None  # the first bar has no previous close
    assert first["rvol"] is None


GET_PATHS = [
    "/health",
    "/db-health",
    "/agents",
    "/findings?limit=1000",
    "/signals?symbol=SPY",
    "/signals_tf?symbol=SPY",
    "/debug/state?symbol=SPY",
    "/debug/features?symbol=SPY",
    "/api/analysis/latest?pair=SPY&tf=1m",
    "/api/analysis/history?pair=SPY&tf=15m&limit=1000",
    "/api/ingestion/status",
    "/api/bars?symbol=SPY&tf=1m&limit=1000",
]


@pytest.mark.parametrize("path", GET_PATHS)
def test_json_times_end_in_z_and_no_number_is_nan(api: TestClient, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200
    for token in ("NaN", "Infinity"):
        assert token not in r.text
    body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{path}: JSON constant {c}"))
    leaves = list(walk(body))
    assert leaves
    for where, value in leaves:
        if isinstance(value, float):
            assert math.isfinite(value), where
        if isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
            assert Z_TIME.match(value), (where, value)


def test_run_now_answers_finite_numbers_or_null(api: TestClient) -> None:
    r = api.post("/agents/run-now?insert=false", headers=AUTH)
    assert r.status_code == 200
    body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"run-now: JSON constant {c}"))
    numbers = [(w, v) for w, v in walk(body) if isinstance(v, float)]
    assert numbers  # findings carry scores and features
    assert all(math.isfinite(v) for _, v in numbers)


def test_debug_state_shows_the_position_state_row(api: TestClient) -> None:
    state = ok_json(api, "/debug/state?symbol=SPY")
    position = state["position"]
    assert position is not None
    assert position["status"] in ("FLAT", "LONG", "SHORT")
    assert position["qty"] == 0.0
    assert 0.0 <= position["last_conf"] <= 1.0
    assert Z_TIME.match(position["updated_at"])


# ------------------------------------------------------------------------------ parameter errors


BAD_PARAMETERS = [
    ("/signals", "symbol", "required"),
    ("/signals?symbol=QQQ", "symbol", "unknown symbol 'QQQ'"),
    ("/signals?symbol=spy", "symbol", "unknown symbol 'spy'"),
    ("/signals_tf?symbol=", "symbol", "unknown symbol ''"),
    ("/debug/state?symbol=QQQ", "symbol", "unknown symbol"),
    ("/debug/features", "symbol", "required"),
    ("/findings?symbol=QQQ", "symbol", "unknown symbol"),
    ("/findings?limit=0", "limit", "out of range: '0'"),
    ("/findings?limit=1001", "limit", "out of range: '1001'"),
    ("/findings?limit=abc", "limit", "not an integer: 'abc'"),
    ("/findings?limit=" + "9" * 40, "limit", "out of range"),
    ("/api/analysis/latest?tf=1m", "pair", "required"),
    ("/api/analysis/latest?pair=SPY", "tf", "required"),
    ("/api/analysis/latest?pair=QQQ&tf=1m", "pair", "unknown symbol 'QQQ'"),
    ("/api/analysis/latest?pair=SPY&tf=1h", "tf", "unknown timeframe '1h'"),
    ("/api/analysis/latest?pair=SPY&tf=5%20minutes", "tf", "malformed timeframe '5 minutes'"),
    ("/api/analysis/history?pair=SPY&tf=1m&limit=100000", "limit", "out of range"),
    ("/api/analysis/history?pair=SPY&tf=1m&limit=-1", "limit", "out of range"),
    ("/api/analysis/history?pair=SPY&tf=2m", "tf", "unknown timeframe '2m'"),
    ("/api/bars?symbol=SPY", "tf", "required"),
    ("/api/bars?symbol=SPY&tf=1m&limit=1e3", "limit", "not an integer"),
    ("/api/bars?symbol=SPY&tf=xyz", "tf", "malformed timeframe"),
]


@pytest.mark.parametrize(("path", "name", "problem"), BAD_PARAMETERS)
def test_a_bad_get_parameter_is_a_400_naming_it(api: TestClient, path: str, name: str, problem: str) -> None:
    r = api.get(path)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"{name}: "), detail
    assert problem in detail
    assert "expected " in detail  # says what is accepted


def test_a_400_lists_the_accepted_values(api: TestClient) -> None:
    assert api.get("/api/bars?symbol=SPY&tf=2h").json() == {
        "detail": "tf: unknown timeframe '2h'; expected a configured timeframe: 1m, 5m, 15m"
    }
    assert api.get("/signals?symbol=X").json() == {
        "detail": "symbol: unknown symbol 'X'; expected a configured symbol: SPY"
    }


@pytest.mark.parametrize(
    ("query", "name", "problem"),
    [
        ("names=nope", "names", "unknown agent 'nope'"),
        ("names=trend_score,,rvol_spike", "names", "malformed value"),
        ("names=trend%20score", "names", "malformed value"),
        ("symbol=QQQ", "symbol", "unknown symbol 'QQQ'"),
        ("insert=maybe", "insert", "not a boolean: 'maybe'"),
    ],
)
def test_a_bad_run_now_parameter_is_a_400_naming_it(
    api: TestClient, query: str, name: str, problem: str
) -> None:
    r = api.post(f"/agents/run-now?{query}", headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"{name}: ")
    assert problem in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "name"), [("/api/breakers/QQQ/1m/close", "symbol"), ("/api/breakers/SPY/4h/close", "tf")]
)
def test_a_bad_breaker_path_is_a_400_naming_it(api: TestClient, path: str, name: str) -> None:
    r = api.post(path, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["detail"].startswith(f"{name}: unknown")


def test_an_unknown_query_parameter_is_a_400_listing_the_accepted_ones(api: TestClient) -> None:
    r = api.get("/findings?symbol=SPY&limt=5")
    assert r.status_code == 400
    assert r.json() == {"detail": "limt: unknown parameter; accepted: limit, symbol"}


def test_an_endpoint_without_parameters_refuses_any(api: TestClient) -> None:
    r = api.get("/health?verbose=1")
    assert r.status_code == 400
    assert r.json() == {"detail": "verbose: unknown parameter; accepted: no query parameters"}


def test_the_dashboard_page_takes_its_own_query_string(api: TestClient) -> None:
    # Regression: the unknown-parameter check refused the page's own ?refresh=1 with a 400.
    r = api.get("/?refresh=1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")


def test_the_token_is_checked_before_unknown_parameters(api: TestClient) -> None:
    assert api.post("/agents/run-now?nope=1").status_code == 401
    assert api.post("/agents/run-now?nope=1", headers=AUTH).status_code == 400


def test_a_huge_limit_is_refused_before_the_store_is_asked(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "huge.db", 2)
    calls: list[int] = []
    real = service.store.analysis_history

    def spy_history(symbol: str, timeframe: str, limit: int = 100) -> Any:
        calls.append(limit)
        return real(symbol, timeframe, limit)

    service.store.analysis_history = spy_history  # type: ignore[method-assign]
    try:
        api = client_for(service, cache_ttl_s=0)
        assert api.get("/api/analysis/history?pair=SPY&tf=1m&limit=1000000000").status_code == 400
        assert calls == []
        assert api.get("/api/analysis/history?pair=SPY&tf=1m&limit=1000").status_code == 200
        assert calls == [1000]
    finally:
        service.store.close()


# ------------------------------------------------------------------------------ the token


def test_a_post_without_a_token_is_401_with_a_bearer_challenge(api: TestClient) -> None:
    r = api.post("/agents/run-now")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["detail"].startswith("Authorization: missing bearer token")


def test_a_post_with_a_wrong_token_is_401(api: TestClient) -> None:
    r = api.post("/api/breakers/SPY/1m/close", headers={"Authorization": "Bearer not-the-token"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_a_non_ascii_wrong_token_is_401_not_a_crash(api: TestClient) -> None:
    r = api.post("/agents/run-now", headers=[(b"authorization", "Bearer t\u00e9st".encode("latin-1"))])
    assert r.status_code == 401


def test_a_utf8_token_matches_the_bytes_the_client_sends(warm: Service) -> None:
    api = client_for(warm, token="p\u00e4sswort")
    ok = [(b"authorization", "Bearer p\u00e4sswort".encode())]
    assert api.post("/agents/run-now?insert=false", headers=ok).status_code == 200
    wrong = [(b"authorization", "Bearer p\u00e4ssw\u00f6rt".encode())]
    assert api.post("/agents/run-now?insert=false", headers=wrong).status_code == 401


def test_another_scheme_is_401(api: TestClient) -> None:
    r = api.post("/agents/run-now", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401


def test_the_token_is_checked_before_the_parameters(api: TestClient) -> None:
    assert api.post("/agents/run-now?names=nope&insert=maybe").status_code == 401


def test_run_now_with_the_token_runs_and_stores_the_findings(fresh: Service) -> None:
    before = len(fresh.latest_findings("SPY", 1000))
    r = client_for(fresh).post("/agents/run-now?names=trend_score&symbol=SPY", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert (body["agents"], body["symbols"], body["insert"]) == (["trend_score"], ["SPY"], True)
    assert (body["ok"], body["ran"], body["results"]) == (
        True,
        ["trend_score"],
        [{"agent": "trend_score", "findings": 1}],
    )
    [finding] = body["findings"]
    assert finding["agent"] == "trend_score"
    assert finding["id"] is not None
    assert len(fresh.latest_findings("SPY", 1000)) == before + 1


def test_run_now_reports_each_agents_error_and_runs_the_others(fresh: Service) -> None:
    @fresh.agents.agent("broken")
    def broken(ctx: Any) -> None:
        raise RuntimeError("bad agent")

    body = client_for(fresh).post("/agents/run-now?symbol=SPY&insert=false", headers=AUTH).json()
    assert body["ok"] is False
    assert body["ran"] == ["rvol_spike", "trend_score", "broken"]
    results = {r["agent"]: r for r in body["results"]}
    assert results["broken"]["error"] == "RuntimeError: bad agent"
    assert "error" not in results["trend_score"]
    assert results["trend_score"]["findings"] == 1


def test_run_now_without_insert_stores_nothing(fresh: Service) -> None:
    before = len(fresh.latest_findings(None, 1000))
    r = client_for(fresh).post("/agents/run-now?insert=false", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["agents"] == ["rvol_spike", "trend_score"]
    assert r.json()["insert"] is False
    assert len(fresh.latest_findings(None, 1000)) == before


def test_a_router_without_a_token_refuses_posts_with_403(warm: Service) -> None:
    api = client_for(warm, token=None)
    r = api.post("/api/breakers/SPY/1m/close", headers=AUTH)
    assert r.status_code == 403
    assert "no API token is configured" in r.json()["detail"]
    assert api.get("/health").status_code == 200


def test_the_token_defaults_to_the_api_token_setting(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "tok.db", 1, env={**ENV, "API_TOKEN": "from-env"})
    try:
        api = client_for(service, token=None)
        assert api.post("/agents/run-now", headers={"Authorization": "Bearer from-env"}).status_code == 200
        assert api.post("/agents/run-now", headers=AUTH).status_code == 401
    finally:
        service.store.close()


def test_an_empty_token_argument_is_refused(warm: Service) -> None:
    with pytest.raises(ValueError, match="token: expected a non-empty string"):
        create_router(warm, token="")


# ------------------------------------------------------------------------------ the analysis cache


def test_a_repeat_within_the_ttl_is_a_cache_hit_with_the_same_body(fresh: Service) -> None:
    clock = FakeClock()
    api = client_for(fresh, cache_ttl_s=30, cache_clock=clock)
    first = api.get("/api/analysis/latest?pair=SPY&tf=1m")
    more(fresh)
    clock.advance(29.9)
    second = api.get("/api/analysis/latest?pair=SPY&tf=1m")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.content == first.content
    newest = fresh.latest_analysis("SPY", "1m")
    assert newest is not None
    assert first.json()["bar_ts"] != newest.to_dict()["bar_ts"]


def test_the_cache_refreshes_after_the_ttl(fresh: Service) -> None:
    clock = FakeClock()
    api = client_for(fresh, cache_ttl_s=30, cache_clock=clock)
    first = api.get("/api/analysis/history?pair=SPY&tf=1m&limit=3")
    more(fresh)
    clock.advance(30.0)
    later = api.get("/api/analysis/history?pair=SPY&tf=1m&limit=3")
    assert later.headers["x-cache"] == "miss"
    assert later.json() == [a.to_dict() for a in fresh.analysis_history("SPY", "1m", 3)]
    assert later.json() != first.json()


def test_the_cache_is_keyed_by_the_normalised_parameters(fresh: Service) -> None:
    api = client_for(fresh, cache_ttl_s=30)
    assert api.get("/api/analysis/latest?pair=SPY&tf=1m").headers["x-cache"] == "miss"
    assert api.get("/api/analysis/latest?pair=SPY&tf=60s").headers["x-cache"] == "hit"
    assert api.get("/api/analysis/history?pair=SPY&tf=1m&limit=3").headers["x-cache"] == "miss"
    assert api.get("/api/analysis/history?pair=SPY&tf=1m&limit=4").headers["x-cache"] == "miss"


def test_a_ttl_of_zero_disables_the_cache(fresh: Service) -> None:
    router = create_router(fresh, token=TOKEN, cache_ttl_s=0)
    api = client(host_app(router))
    first = api.get("/api/analysis/latest?pair=SPY&tf=1m")
    more(fresh)
    second = api.get("/api/analysis/latest?pair=SPY&tf=1m")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "miss")
    assert second.json()["bar_ts"] > first.json()["bar_ts"]
    assert len(router.cache) == 0


def test_the_ttl_defaults_to_analysis_api_cache_ttl(tmp_path: Path) -> None:
    service = stepped_service(tmp_path / "ttl.db", 1, env={**ENV, "ANALYSIS_API_CACHE_TTL": "0"})
    try:
        router = create_router(service)
        assert router.cache.ttl_s == 0
        assert not router.cache.enabled
    finally:
        service.store.close()


def test_parameter_errors_are_not_cached(fresh: Service) -> None:
    router = create_router(fresh, token=TOKEN)
    api = client(host_app(router))
    for _ in range(2):
        assert api.get("/api/analysis/latest?pair=QQQ&tf=1m").status_code == 400
    assert len(router.cache) == 0


def test_the_cache_is_bounded() -> None:
    clock = FakeClock()
    cache = ResponseCache(30, max_entries=3, clock=clock)
    for i in range(10):
        cache.put(("k", i), 200, b"{}")
    assert len(cache) == 3
    assert [cache.get(("k", i)) is not None for i in (6, 7, 8, 9)] == [False, True, True, True]


def test_a_full_cache_drops_every_expired_entry_first() -> None:
    clock = FakeClock()
    cache = ResponseCache(30, max_entries=3, clock=clock)
    cache.put("a", 200, b"1")
    cache.put("b", 200, b"2")
    clock.advance(31)
    cache.put("c", 200, b"3")
    cache.put("d", 200, b"4")  # full: a and b (expired) go, not only the oldest one
    assert len(cache) == 2
    assert [cache.get(k) is not None for k in "abcd"] == [False, False, True, True]


@pytest.mark.parametrize("ttl", [-1, float("nan"), float("inf"), True])
def test_a_bad_ttl_is_refused(ttl: Any) -> None:
    with pytest.raises(ValueError, match="ttl_s: expected seconds >= 0"):
        ResponseCache(ttl)


# ------------------------------------------------------------------------------ mounting


def test_the_router_works_under_a_prefix_next_to_the_host_routes(warm: Service) -> None:
    api = client_for(warm, prefix="/montalaq")
    assert api.get("/host-ping").json() == {"host": "yes"}
    assert api.get("/montalaq/health").json()["symbols"] == ["SPY"]
    assert api.get("/health").status_code == 404
    assert api.post("/montalaq/agents/run-now?insert=false", headers=AUTH).status_code == 200


def dashboard_dir(tmp_path: Path) -> Path:
    d = tmp_path / "static"
    d.mkdir()
    (d / "index.html").write_text("<!doctype html><script src='static/app.js'></script>", encoding="utf-8")
    (d / "app.js").write_text("console.log('montalaq');\n", encoding="utf-8")
    (d / ".secret").write_text("SECRET-CONTENT", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("SECRET-CONTENT", encoding="utf-8")
    return d


def test_the_dashboard_and_its_assets_are_served_under_a_prefix(warm: Service, tmp_path: Path) -> None:
    api = client_for(warm, prefix="/montalaq", static_dir=dashboard_dir(tmp_path))
    page = api.get("/montalaq/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = api.get("/montalaq/static/app.js")
    assert (js.status_code, js.text) == (200, "console.log('montalaq');\n")
    assert "javascript" in js.headers["content-type"]


def test_the_prefix_without_a_slash_redirects_so_relative_urls_resolve(warm: Service, tmp_path: Path) -> None:
    api = client_for(warm, prefix="/montalaq", static_dir=dashboard_dir(tmp_path))
    r = api.get("/montalaq")
    assert r.status_code in (307, 308)
    assert r.headers["location"].endswith("/montalaq/")


@pytest.mark.parametrize(
    "path", ["/static/%2e%2e/outside.txt", "/static/..%2Foutside.txt", "/static/.secret", "/static/"]
)
def test_static_serves_nothing_outside_its_folder(warm: Service, tmp_path: Path, path: str) -> None:
    api = client_for(warm, static_dir=dashboard_dir(tmp_path))
    r = api.get(path)
    assert r.status_code == 404
    assert "SECRET-CONTENT" not in r.text


def test_a_missing_dashboard_is_a_404_saying_so(warm: Service, tmp_path: Path) -> None:
    r = client_for(warm, static_dir=tmp_path).get("/")
    assert r.status_code == 404
    assert "dashboard is not installed" in r.json()["detail"]


def test_the_bundled_dashboard_is_served_at_the_root(api: TestClient) -> None:
    index = STATIC_DIR / "index.html"
    assert index.is_file(), "the dashboard's index.html is part of the package"
    r = api.get("/")
    assert r.status_code == 200
    assert r.content == index.read_bytes()


def test_the_schema_paths_carry_the_prefix(warm: Service) -> None:
    doc = client_for(warm, prefix="/montalaq").get("/montalaq/api/schema").json()
    assert "/montalaq/api/analysis/latest" in doc["paths"]
    assert all(p.startswith("/montalaq/") for p in doc["paths"])


# ------------------------------------------------------------------------------ schema and docs


def test_the_schema_documents_every_operation_and_no_422(api: TestClient) -> None:
    doc = ok_json(api, "/api/schema")
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/health",
        "/db-health",
        "/agents",
        "/agents/run-now",
        "/findings",
        "/signals",
        "/signals_tf",
        "/debug/state",
        "/debug/features",
        "/api/bars",
        "/api/analysis/latest",
        "/api/analysis/history",
        "/api/ingestion/status",
        "/api/breakers/{symbol}/{tf}/close",
        "/metrics",
        "/livez",
        "/api/alerts",
        "/api/alerts/{alert_id}/ack",
        "/api/errors/summary",
        "/api/health/snapshot",
    }
    text = json.dumps(doc)
    assert '"422"' not in text
    assert "HTTPValidationError" not in text
    latest = doc["paths"]["/api/analysis/latest"]["get"]
    assert set(latest["responses"]) == {"200", "400", "404"}
    pair = next(p for p in latest["parameters"] if p["name"] == "pair")
    assert (pair["required"], pair["schema"]["enum"]) == (True, ["SPY"])
    close = doc["paths"]["/api/breakers/{symbol}/{tf}/close"]["post"]
    assert {"400", "401", "403"} <= set(close["responses"])
    assert close["security"] == [{"bearerToken": []}]


def test_the_docs_page_references_no_external_host(api: TestClient) -> None:
    r = api.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in r.text.lower()
    assert "http://" not in r.text
    assert "https://" not in r.text
    assert "//cdn" not in r.text


def test_without_swagger_ui_files_the_docs_page_lists_the_operations(
    warm: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    import montalaq.api.docs as docs_module

    monkeypatch.setattr(docs_module, "swagger_static", lambda: None)  # fastapi-offline missing
    api = client_for(warm)
    r = api.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<code>/api/analysis/latest</code>" in r.text
    assert "//" not in r.text.replace("<!doctype html>", "")
    assert api.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 404


def test_the_docs_assets_are_served_from_this_process(api: TestClient) -> None:
    js = api.get("/api/docs/assets/swagger-ui-bundle.js")
    css = api.get("/api/docs/assets/swagger-ui.css")
    assert (js.status_code, css.status_code) == (200, 200)
    assert "SwaggerUIBundle" in js.text
    assert api.get("/api/docs/assets/..%2F..%2Fcore.py").status_code == 404


# ------------------------------------------------------------------------------ /metrics


def metrics(api: TestClient, path: str = "/metrics") -> dict[str, list[Any]]:
    r = api.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def test_metrics_have_the_pair_gauges(api: TestClient) -> None:
    m = metrics(api)
    fresh = {
        (s.labels["symbol"], s.labels["timeframe"], s.labels["provider"]): s.value
        for s in m["montalaq_pair_freshness"]
    }
    assert fresh == {("SPY", tf, "AllTick"): FRESHNESS_VALUE["GREEN"] for tf in ("1m", "5m", "15m")}
    assert {s.value for s in m["montalaq_pair_escalation_level"]} == {LEVEL_VALUE["INFO"]}
    assert {s.value for s in m["montalaq_pair_breaker_open"]} == {0}
    assert len(m["montalaq_pair_last_tick_timestamp_seconds"]) == 3


def test_metrics_have_the_service_counters(api: TestClient, warm: Service) -> None:
    m = metrics(api)
    assert m["montalaq_service_trades_ingested_total"][0].value == warm.stats.trades_ingested
    assert m["montalaq_service_bars_closed_total"][0].value == warm.stats.bars_closed
    assert m["montalaq_trades_cached"][0].labels == {"symbol": "SPY"}
    assert {s.labels["agent"] for s in m["montalaq_agent_runs_total"]} == {"rvol_spike", "trend_score"}


def test_metrics_count_requests_by_route_and_status(warm: Service) -> None:
    api = client_for(warm)
    api.get("/signals?symbol=SPY")
    api.get("/signals?symbol=QQQ")
    api.get("/signals?symbol=QQQ")
    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in metrics(api)["montalaq_http_requests_total"]
    }
    assert counts[("/signals", "GET", "200")] == 1
    assert counts[("/signals", "GET", "400")] == 2


def test_two_apps_in_one_process_keep_separate_metrics(warm: Service) -> None:
    a, b = client_for(warm), client_for(warm)
    a.get("/health")
    routes_b = {s.labels["route"] for s in metrics(b).get("montalaq_http_requests_total", [])}
    assert "/health" not in routes_b


def test_metrics_show_the_cache_hits(fresh: Service) -> None:
    api = client_for(fresh, cache_ttl_s=30)
    for _ in range(3):
        api.get("/api/analysis/latest?pair=SPY&tf=5m")
    m = metrics(api)
    assert (m["montalaq_api_cache_hits_total"][0].value, m["montalaq_api_cache_misses_total"][0].value) == (
        2,
        1,
    )


# ------------------------------------------------------------------------------ the standalone app


def test_create_app_runs_the_scheduler_and_stops_it_on_shutdown(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    feed = ReplayProvider(spy_trades(), name="AllTick", speed=600.0, start_offset_s=5.5 * 3600)
    service = Service(Settings.from_env(ENV), store=store, providers={"SPY": feed}, clock=feed.clock)
    try:
        with client(create_app(service=service, token=TOKEN, tick_s=0.05)) as api:
            assert service.running
            deadline = 200
            while service.stats.bars_closed == 0 and deadline:
                api.get("/health")
                deadline -= 1
                time.sleep(0.05)
            assert service.stats.bars_closed > 0
            assert api.get("/api/ingestion/status").json()["pairs"][0]["freshness"] == "GREEN"
        assert not service.running
        assert store.health() == {"ok": True}  # a service passed in is not closed by the app
    finally:
        store.close()


def test_create_app_builds_its_service_from_settings(tmp_path: Path) -> None:
    db = tmp_path / "new-folder" / "montalaq.db"
    settings = Settings.from_env(
        {
            "SYMBOL": "SPY",
            "MONTALAQ_DB_PATH": str(db),
            "API_TOKEN": "abc",
            "ALERTS_DIR": str(tmp_path / "alerts"),
            "METRICS_DIR": str(tmp_path / "monitoring"),
        }
    )
    app = create_app(settings)
    with client(app) as api:
        assert api.get("/health").json()["symbols"] == ["SPY"]
        assert (
            api.post("/agents/run-now?insert=false", headers={"Authorization": "Bearer abc"}).status_code
            == 200
        )
        service = app_router(app).service
        assert service.running
    assert db.is_file()
    assert not service.running


def test_create_app_starts_and_stops_the_notifier_worker(tmp_path: Path) -> None:
    settings = Settings.from_env({**ENV, "NOTIFY_DRY_RUN": "true"})
    store = Store(f"sqlite:///{tmp_path / 'notify.db'}")
    notifier = notifier_from_settings(settings, store)
    service = Service(
        settings, store=store, notifier=notifier, providers={"SPY": ReplayProvider(spy_trades())}
    )

    def worker_alive() -> bool:
        return any(t.name == "montalaq-notifier" and t.is_alive() for t in threading.enumerate())

    assert not worker_alive()
    try:
        with client(create_app(service=service, run_scheduler=False)):
            assert worker_alive()
            assert not service.running
        assert not worker_alive()
    finally:
        store.close()


# ------------------------------------------------------------------------------ end to end: a gap


@pytest.fixture
def gap_in_hole(tmp_path: Path) -> Iterator[Service]:
    """SPY stepped into a 7-minute hole in its trades (test_service.gap_run): 1m went
    AMBER -> RED, WARN -> ERROR -> CRITICAL, its breaker opened; dry-run notifications."""
    run = gap_run(spy_trades(), tmp_path / "gap.db", until=HOLE_START)
    yield run.service
    run.service.store.close()


def test_the_gap_shows_on_the_ingestion_status(gap_in_hole: Service) -> None:
    status = ok_json(client_for(gap_in_hole), "/api/ingestion/status")
    by_tf = {p["timeframe"]: p for p in status["pairs"]}
    one = by_tf["1m"]
    assert (one["freshness"], one["escalation_level"], one["breaker_open"]) == ("RED", "CRITICAL", True)
    assert one["last_error_code"] == "FRESHNESS_THRESHOLD_EXCEEDED"
    assert Z_TIME.match(one["breaker_changed_at"])
    assert one["red_streak"] >= 1
    for tf in ("5m", "15m"):
        assert (by_tf[tf]["freshness"], by_tf[tf]["escalation_level"], by_tf[tf]["breaker_open"]) == (
            "GREEN",
            "INFO",
            False,
        )
    assert status["providers_summary"] == {
        "AllTick": {
            "pairs": 3,
            "green": 2,
            "amber": 0,
            "red": 1,
            "closed": 0,
            "unknown": 0,
            "breakers_open": 1,
        }
    }


def test_the_gap_notifications_went_out_in_dry_run(gap_in_hole: Service) -> None:
    m = metrics(client_for(gap_in_hole))
    outbox = {s.labels["status"]: s.value for s in m["montalaq_notify_outbox_rows"]}
    titles = [
        r.payload["title"] for r in gap_in_hole.store.outbox.rows() if r.kind in ("escalation", "breaker")
    ]
    assert titles == [
        "SPY 1m: escalation INFO -> WARN",
        "SPY 1m: escalation WARN -> ERROR",
        "SPY 1m: breaker opened",
        "SPY 1m: escalation ERROR -> CRITICAL",
    ]
    assert outbox["DRY_RUN"] == len(gap_in_hole.store.outbox.rows())
    assert outbox["PENDING"] == 0
    breakers = {s.labels["timeframe"]: s.value for s in m["montalaq_pair_breaker_open"]}
    assert breakers == {"1m": 1, "5m": 0, "15m": 0}


def test_the_operator_closes_the_gap_breaker_through_the_api(gap_in_hole: Service) -> None:
    api = client_for(gap_in_hole)
    assert api.post("/api/breakers/SPY/1m/close").status_code == 401
    r = api.post("/api/breakers/SPY/1m/close", headers=AUTH)
    assert r.status_code == 200
    out = r.json()
    assert (out["symbol"], out["timeframe"], out["closed"], out["breaker_open"]) == ("SPY", "1m", True, False)
    assert (out["event"]["kind"], out["event"]["old"], out["event"]["new"]) == (
        "breaker_close",
        "OPEN",
        "CLOSED",
    )
    assert Z_TIME.match(out["event"]["at"])
    by_tf = {p["timeframe"]: p for p in ok_json(api, "/api/ingestion/status")["pairs"]}
    assert by_tf["1m"]["breaker_open"] is False
    assert gap_in_hole.store.outbox.rows()[-1].payload["title"] == "SPY 1m: breaker closed"
    again = api.post("/api/breakers/SPY/1m/close", headers=AUTH).json()
    assert (again["closed"], again["event"]) == (False, None)
