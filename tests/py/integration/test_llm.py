"""The LLM analyst end to end against a local OpenAI-compatible server (docs/llm.md).

Every call goes through the real openai SDK over loopback HTTP to ``tests/py/llm_server.py``;
nothing of the HTTP layer is mocked. The interval and the breaker run on a fake clock, and
the tests run the queue with ``run_pending()`` (or wait on the worker with a bounded
``drain``), so only the Retry-After test really waits (the one second it asks for).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from llm_server import LLMServer
from montalaq._time import datetime_utc
from montalaq.llm import AGENT, LLMAnalyst, LLMAnswer, LLMMalformedError, parse_answer
from montalaq.notify import Notifier, WebhookChannel
from montalaq.records import Finding, as_utc
from montalaq.settings import Settings, SettingsError
from montalaq.store import Store
from mtq_support import FakeClock

T0_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000
KEY = "sk-montalaq-test-7Qx9ZvKq2Lr8"  # distinctive: searched for in logs, stats and reprs
FEATURES: dict[str, Any] = {
    "mom_bps_1m": 12.5,
    "mom_bps_5m": 20.25,
    "mom_bps_15m": 31.0,
    "px_vs_vwap_bps_1m": float("nan"),  # undefined: sent as null
    "rvol_1m": 1.8,
    "atr_5m": None,
}


def trend(symbol: str, p_up: float, ts_ns: int, label: str = "LONG") -> Finding:
    return Finding(
        ts_utc=as_utc(ts_ns, "ts_utc"), agent="trend_score", symbol=symbol, score=p_up, label=label
    )


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's OPENAI_* variables never steer a test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def found() -> list[Finding]:
    return []


@pytest.fixture
def make(server: LLMServer, clock: FakeClock, found: list[Finding]) -> Iterator[Callable[..., LLMAnalyst]]:
    """``make(**overrides)``: an analyst talking to the local server, no worker thread."""
    made: list[LLMAnalyst] = []

    def build(**kw: Any) -> LLMAnalyst:
        args: dict[str, Any] = {
            "model": "test-model",
            "api_key": KEY,
            "base_url": server.base_url,
            "on_finding": found.append,
            "worker": False,
            "clock": clock,
            "timeout_s": 5.0,
            "retry_base_s": 0.01,
        }
        args.update(kw)
        analyst = LLMAnalyst(**args)
        made.append(analyst)
        return analyst

    yield build
    for a in made:
        a.close()


def submit(analyst: LLMAnalyst, clock: FakeClock, symbol: str = "SPY", p_up: float = 0.8) -> str:
    """Submit ``symbol`` with a fresh trend finding of ``p_up`` at the clock's time."""
    return analyst.submit(symbol, FEATURES, "LONG", [trend(symbol, p_up, clock.ns)], clock.ns)


# ------------------------------------------------------------------------------ answers


def test_a_valid_answer_becomes_a_llm_analyst_finding(
    make: Callable[..., LLMAnalyst], clock: FakeClock, found: list[Finding]
) -> None:
    analyst = make()
    assert submit(analyst, clock) == "queued"
    assert analyst.run_pending() == 1
    [f] = found
    assert (f.agent, f.symbol, f.score, f.label) == (AGENT, "SPY", 0.6, "BULLISH")
    assert f.ts_utc.timestamp() == T0_NS / S  # the submitted moment, not the answer's
    assert f.details["confidence"] == 0.9
    assert f.details["rationale"].startswith("Momentum is positive")
    assert f.details["model"] == "test-model"
    assert (f.details["prompt_tokens"], f.details["completion_tokens"]) == (120, 40)
    assert f.details["latency_ms"] > 0
    assert f.correlation_id is not None
    s = analyst.stats()
    assert (s["requests"], s["ok"], s["errors"], s["findings"]) == (1, 1, {}, 1)
    assert (s["prompt_tokens"], s["completion_tokens"], s["latency_ms_count"]) == (120, 40, 1)
    assert s["latency_ms_last"] == pytest.approx(s["latency_ms_sum"])


def test_the_request_carries_the_model_the_key_and_json_mode(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    analyst = make()
    submit(analyst, clock)
    analyst.run_pending()
    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.authorization == f"Bearer {KEY}"
    assert req.model == "test-model"
    assert req.response_format == {"type": "json_object"}
    system, user = req.messages
    assert system["role"] == "system"
    assert all(word in system["content"] for word in ("BULLISH", "BEARISH", "NEUTRAL", "confidence", "500"))
    body = json.loads(user["content"])
    assert (body["symbol"], body["posture"], body["as_of"]) == ("SPY", "LONG", "2026-01-01T00:00:00Z")
    assert body["features"]["px_vs_vwap_bps_1m"] is None
    assert body["features"]["mom_bps_5m"] == 20.25
    assert body["recent_findings"] == [
        {"agent": "trend_score", "score": 0.8, "label": "LONG", "ts": "2026-01-01T00:00:00Z"}
    ]


def test_the_prompt_carries_the_ten_newest_findings_of_the_symbol(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    analyst = make()
    mine = [trend("SPY", 0.8, clock.ns - i * S) for i in range(15)]
    other = [trend("QQQ", 0.99, clock.ns)]
    analyst.submit("SPY", FEATURES, "LONG", [*reversed(mine), *other], clock.ns)
    analyst.run_pending()
    sent = json.loads(server.requests[0].messages[1]["content"])["recent_findings"]
    assert len(sent) == 10
    assert [f["ts"] for f in sent] == sorted((f["ts"] for f in sent), reverse=True)
    assert sent[0]["ts"] == "2026-01-01T00:00:00Z"
    assert all(f["score"] == 0.8 for f in sent)  # QQQ's finding is not SPY's


@pytest.mark.parametrize("mode", ["malformed", "wrong_schema", "out_of_range"])
def test_a_malformed_answer_is_counted_and_gives_no_finding(
    make: Callable[..., LLMAnalyst],
    server: LLMServer,
    clock: FakeClock,
    found: list[Finding],
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    server.mode = mode
    analyst = make()
    submit(analyst, clock)
    with caplog.at_level(logging.WARNING, logger="montalaq.llm"):
        analyst.run_pending()
    assert found == []
    s = analyst.stats()
    assert (s["requests"], s["ok"], s["errors"]) == (1, 0, {"malformed": 1})  # not retried
    assert server.count == 1
    [record] = [r for r in caplog.records if r.name == "montalaq.llm"]
    assert record.levelno == logging.WARNING
    assert "malformed" in record.getMessage()
    assert "x" * 201 not in caplog.text  # at most 200 characters of the raw answer


def test_malformed_answers_are_logged_once_per_episode(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    analyst = make()
    server.script("malformed", "malformed", "malformed", "valid", "malformed")
    with caplog.at_level(logging.INFO, logger="montalaq.llm"):
        for symbol in ("A", "B", "C", "D", "E"):
            submit(analyst, clock, symbol)
            analyst.run_pending()
    levels = [
        (r.levelno, "answers are valid again" in r.getMessage())
        for r in caplog.records
        if r.name == "montalaq.llm"
    ]
    assert levels == [(logging.WARNING, False), (logging.INFO, True), (logging.WARNING, False)]
    assert analyst.stats()["errors"] == {"malformed": 4}


def test_a_slow_server_times_out_and_the_timeout_is_counted(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock, found: list[Finding]
) -> None:
    server.mode = "slow"
    server.slow_s = 3.0
    analyst = make(timeout_s=0.3, retry_attempts=2)
    submit(analyst, clock)
    t0 = time.monotonic()
    analyst.run_pending()
    assert time.monotonic() - t0 < 2.5  # two attempts of 0.3 s, not the server's 3 s
    assert found == []
    s = analyst.stats()
    assert (s["requests"], s["ok"], s["errors"]) == (2, 0, {"timeout": 2})  # timeouts are retried


def test_429_with_retry_after_is_honoured_then_the_answer_counts(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock, found: list[Finding]
) -> None:
    server.script("429")  # then valid
    analyst = make(retry_base_s=5.0)  # the wait must come from Retry-After (1 s), not the backoff
    submit(analyst, clock)
    analyst.run_pending()
    first, second = server.requests
    assert 0.9 <= second.t_s - first.t_s < 2.0
    assert len(found) == 1
    s = analyst.stats()
    assert (s["requests"], s["ok"], s["errors"]) == (2, 1, {"http_429": 1})


def test_repeated_500s_open_the_breaker_then_it_closes_after_the_cooldown(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock, found: list[Finding]
) -> None:
    server.mode = "500"
    analyst = make(breaker_failures=3, breaker_cooldown_s=30.0)
    submit(analyst, clock, "SPY")
    analyst.run_pending()  # three attempts, three failures: open
    assert server.count == 3
    assert analyst.stats()["breaker"] == "OPEN"
    assert submit(analyst, clock, "QQQ") == "skipped_breaker"
    analyst.run_pending()
    assert server.count == 3  # not hammered
    clock.advance(31)
    server.mode = "valid"
    assert submit(analyst, clock, "IWM") == "queued"
    analyst.run_pending()  # the half-open probe answers: closed
    s = analyst.stats()
    assert server.count == 4
    assert (s["breaker"], s["ok"], s["skipped_breaker"], s["errors"]) == ("CLOSED", 1, 1, {"http_500": 3})
    assert [f.symbol for f in found] == ["IWM"]


def test_a_breaker_opening_during_a_call_stops_its_retries(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    server.mode = "500"
    analyst = make(breaker_failures=2, retry_attempts=3)
    submit(analyst, clock)
    analyst.run_pending()
    s = analyst.stats()
    assert server.count == 2
    assert (s["errors"], s["skipped_breaker"], s["breaker"]) == ({"http_500": 2}, 1, "OPEN")


# ------------------------------------------------------------------------------ gates


def test_the_minimum_interval_counts_per_symbol_from_the_start_of_the_last_call(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    analyst = make(min_interval_s=300)
    assert submit(analyst, clock, "SPY") == "queued"
    analyst.run_pending()
    clock.advance(299)
    assert submit(analyst, clock, "SPY") == "skipped_interval"
    assert submit(analyst, clock, "QQQ") == "queued"  # another symbol has its own interval
    analyst.run_pending()
    assert server.count == 2
    clock.advance(1)
    assert submit(analyst, clock, "SPY") == "queued"
    analyst.run_pending()
    assert server.count == 3
    assert analyst.stats()["skipped_interval"] == 1


def test_a_failed_call_uses_up_the_interval_too(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    server.mode = "500"
    analyst = make(retry_attempts=1)
    submit(analyst, clock)
    analyst.run_pending()
    clock.advance(60)
    server.mode = "valid"
    assert submit(analyst, clock) == "skipped_interval"
    assert server.count == 1


def test_a_symbol_still_waiting_is_asked_about_with_its_newest_picture(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    analyst = make()
    assert submit(analyst, clock) == "queued"
    clock.advance(60)
    assert submit(analyst, clock) == "replaced"
    assert analyst.run_pending() == 1
    assert json.loads(server.requests[0].messages[1]["content"])["as_of"] == "2026-01-01T00:01:00Z"
    assert analyst.stats()["superseded"] == 1


def test_a_full_queue_drops_the_oldest_waiting_symbol(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    analyst = make(queue_size=2)
    for symbol in ("A", "B", "C"):
        assert submit(analyst, clock, symbol) == "queued"
    assert analyst.stats()["queued"] == 2
    assert analyst.run_pending() == 2
    asked = [json.loads(r.messages[1]["content"])["symbol"] for r in server.requests]
    assert asked == ["B", "C"]
    assert analyst.stats()["dropped"] == 1


GATE_CASES = [
    # (findings as (agent, score, age s), outcome) with LLM_ANALYST_MIN_SCORE 0.7, interval 300 s
    ([("trend_score", 0.65, 0)], "skipped_score"),
    ([("trend_score", 0.70, 0)], "queued"),  # reaches: inclusive
    ([("trend_score", 0.25, 0)], "queued"),  # bearish conviction 0.75
    ([("trend_score", 0.55, 0), ("trend_score", 0.95, 60)], "skipped_score"),  # only the latest counts
    ([("trend_score", 0.95, 301)], "skipped_score"),  # older than the interval: had its chance
    ([("rvol_spike", 3.2, 0)], "queued"),
    ([("trend_score", 0.5, 0), ("rvol_spike", 3.2, 120)], "queued"),  # the best agent counts
    ([(AGENT, 0.95, 0)], "skipped_score"),  # the analyst never triggers itself
    ([("wide_range", -0.8, 0)], "queued"),  # user agents: |score|
    ([], "skipped_score"),
]


@pytest.mark.parametrize(("findings", "outcome"), GATE_CASES, ids=[str(i) for i in range(len(GATE_CASES))])
def test_the_score_gate(
    make: Callable[..., LLMAnalyst],
    server: LLMServer,
    clock: FakeClock,
    findings: list[tuple[str, float, float]],
    outcome: str,
) -> None:
    analyst = make(min_score=0.7, min_interval_s=300)
    given = [
        Finding(ts_utc=as_utc(clock.ns - int(age * S), "ts_utc"), agent=agent, symbol="SPY", score=score)
        for agent, score, age in findings
    ]
    assert analyst.submit("SPY", FEATURES, "FLAT", given, clock.ns) == outcome
    analyst.run_pending()
    assert server.count == (1 if outcome == "queued" else 0)
    assert analyst.stats()["skipped_score"] == (0 if outcome == "queued" else 1)


# ------------------------------------------------------------------------------ alerts


@pytest.fixture
def notifier(tmp_path: Path, clock: FakeClock) -> Iterator[Notifier]:
    store = Store(f"sqlite:///{tmp_path / 'llm.db'}")
    # Dry run: the outbox row is written (DRY_RUN) and nothing is sent to the address.
    yield Notifier(store, [WebhookChannel("http://127.0.0.1:9/hook")], dry_run=True, clock=clock)
    store.close()


@pytest.mark.parametrize(("confidence", "rows"), [(0.79, 0), (0.8, 1), (0.95, 1)])
def test_only_answers_confident_enough_are_notified_as_signals(
    make: Callable[..., LLMAnalyst],
    server: LLMServer,
    clock: FakeClock,
    found: list[Finding],
    notifier: Notifier,
    confidence: float,
    rows: int,
) -> None:
    server.answer = {**server.answer, "label": "BEARISH", "score": -0.7, "confidence": confidence}
    analyst = make(notifier=notifier, alert_min_conf=0.8)
    submit(analyst, clock)
    analyst.run_pending()
    assert len(found) == 1  # the finding is kept either way
    outbox = notifier.store.outbox.rows()
    assert len(outbox) == rows
    assert analyst.stats()["alerts"] == rows
    if rows:
        [row] = outbox
        assert (row.kind, row.status, row.severity) == ("analysis", "DRY_RUN", "WARNING")
        assert row.correlation_id == found[0].correlation_id
        fields = row.payload["fields"]
        assert (fields["source"], fields["symbol"], fields["label"]) == (AGENT, "SPY", "BEARISH")
        assert fields["confidence"] == confidence
        assert "BEARISH SPY" in row.payload["title"]


# ------------------------------------------------------------------------------ the key


def test_the_key_never_reaches_logs_stats_reprs_or_metrics(
    make: Callable[..., LLMAnalyst],
    server: LLMServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The 401 repeats the Authorization header in its error, as careless servers do.
    server.script("401_echo", "500", "malformed", "valid")
    analyst = make(retry_attempts=1)
    with caplog.at_level(logging.DEBUG):  # every logger, the SDK's and httpx's too
        for symbol in ("A", "B", "C", "D"):
            submit(analyst, clock, symbol)
            analyst.run_pending()
    assert server.requests[0].authorization == f"Bearer {KEY}"  # it was sent, so it could leak
    assert "http_401" in caplog.text
    assert "invalid credentials: Bearer ***" in caplog.text
    registry = CollectorRegistry()
    registry.register(_Families(analyst))
    for text in (caplog.text, str(analyst.stats()), repr(analyst), generate_latest(registry).decode()):
        assert KEY not in text
    assert analyst.stats()["errors"] == {"http_401": 1, "http_500": 1, "malformed": 1}


def test_a_settings_error_never_shows_the_key() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"OPENAI_API_KEY": KEY, "LLM_ENABLE": "1", "LLM_TIMEOUT_SEC": "soon"})
    assert "LLM_TIMEOUT_SEC" in str(caught.value)
    assert KEY not in str(caught.value)
    s = Settings.from_env({"OPENAI_API_KEY": KEY})
    assert KEY not in repr(s)
    assert KEY not in str(s.describe())


# ------------------------------------------------------------------------------ configuration


def test_openai_base_url_of_the_environment_is_honoured(
    server: LLMServer, clock: FakeClock, found: list[Finding], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with LLMAnalyst(api_key=KEY, on_finding=found.append, worker=False, clock=clock) as analyst:
        submit(analyst, clock)
        analyst.run_pending()
    assert server.count == 1
    assert server.requests[0].model == "gpt-4o-mini"
    assert len(found) == 1


def test_settings_from_a_mapping_reach_a_local_server_without_a_key(
    server: LLMServer, clock: FakeClock, found: list[Finding]
) -> None:
    settings = Settings.from_env(
        {
            "LLM_ENABLE": "true",
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_MODEL": "llama3.1:8b",
            "LLM_MIN_INTERVAL": "60",
            "LLM_ANALYST_MIN_SCORE": "0.9",
            "LLM_TIMEOUT_SEC": "4",
        }
    )
    analyst = LLMAnalyst.from_settings(settings, on_finding=found.append, worker=False, clock=clock)
    try:
        assert (analyst.min_interval_s, analyst.min_score, analyst.timeout_s) == (60.0, 0.9, 4.0)
        assert submit(analyst, clock, p_up=0.85) == "skipped_score"
        assert submit(analyst, clock, p_up=0.95) == "queued"
        analyst.run_pending()
    finally:
        analyst.close()
    [req] = server.requests
    assert (req.authorization, req.model) == ("Bearer not-needed", "llama3.1:8b")
    assert len(found) == 1


def test_submit_takes_now_in_any_form_and_the_old_now_ns_keyword_warns(
    make: Callable[..., LLMAnalyst], clock: FakeClock
) -> None:
    """docs/semantics.md, "Time values in Python": ``now`` is the cycle's time; the gates
    read it (a finding older than the interval at ``now`` no longer counts)."""
    analyst = make(min_score=0.7, min_interval_s=300)
    given = [Finding(ts_utc=datetime_utc(clock.ns), agent="trend_score", symbol="SPY", score=0.95)]
    late = clock.ns + 301 * S
    assert analyst.submit("SPY", FEATURES, "FLAT", given, datetime_utc(late)) == "skipped_score"
    assert analyst.submit("SPY", FEATURES, "FLAT", given, now=np.datetime64(late, "ns")) == "skipped_score"
    with pytest.warns(DeprecationWarning, match="now_ns is deprecated, pass now=") as record:
        assert analyst.submit("SPY", FEATURES, "FLAT", given, now_ns=late) == "skipped_score"
    assert [w.filename for w in record] == [__file__]
    with pytest.raises(TypeError, match="pass now= or now_ns=, not both"):
        analyst.submit("SPY", FEATURES, "FLAT", given, late, now_ns=late)
    with pytest.raises(TypeError, match=r"^now: .*got float"):
        analyst.submit("SPY", FEATURES, "FLAT", given, late / 1e9)  # type: ignore[arg-type]
    assert analyst.submit("SPY", FEATURES, "FLAT", given, datetime_utc(clock.ns)) == "queued"


def test_a_disabled_analyst_does_nothing() -> None:
    analyst = LLMAnalyst.from_settings(Settings.from_env({}))
    assert analyst.enabled is False
    assert analyst.submit("SPY", FEATURES, "LONG", [trend("SPY", 0.99, T0_NS)], T0_NS) == "disabled"
    assert analyst.prometheus_families() == []
    assert analyst.stats()["submitted"] == 0
    analyst.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LLM_ENABLE": "1"}, "OPENAI_API_KEY"),
        ({"OPENAI_BASE_URL": "ftp://models.local"}, "OPENAI_BASE_URL"),
        ({"OPENAI_MODEL": "  "}, "OPENAI_MODEL"),
        ({"LLM_MIN_INTERVAL": "0"}, "LLM_MIN_INTERVAL"),
        ({"LLM_ALERT_MIN_CONF": "1.5"}, "LLM_ALERT_MIN_CONF"),
        ({"LLM_ANALYST_MIN_SCORE": "-0.1"}, "LLM_ANALYST_MIN_SCORE"),
        ({"LLM_TIMEOUT_SEC": "0"}, "LLM_TIMEOUT_SEC"),
        ({"LLM_ENABLE": "perhaps"}, "LLM_ENABLE"),
    ],
)
def test_bad_llm_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}:"):
        Settings.from_env(env)


def test_blank_llm_settings_are_unset_and_a_key_alone_is_enough() -> None:
    s = Settings.from_env({"OPENAI_API_KEY": " ", "OPENAI_BASE_URL": ""})
    assert (s.openai_api_key, s.openai_base_url) == (None, None)
    assert Settings.from_env({"LLM_ENABLE": "1", "OPENAI_API_KEY": "k"}).llm_enable is True


def test_an_enabled_analyst_without_key_or_server_is_refused() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        LLMAnalyst(api_key=None, base_url=None, worker=False)


# ------------------------------------------------------------------------------ the worker


def test_submit_returns_at_once_and_the_worker_makes_the_call(
    make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock
) -> None:
    server.mode = "slow"
    server.slow_s = 0.5
    threads: list[str] = []
    analyst = make(worker=True, on_finding=lambda f: threads.append(threading.current_thread().name))
    t0 = time.monotonic()
    assert submit(analyst, clock) == "queued"
    assert time.monotonic() - t0 < 0.1
    assert analyst.drain(10.0)
    assert threads == ["montalaq-llm"]


def test_close_stops_the_worker_and_later_submits_are_refused(
    make: Callable[..., LLMAnalyst], clock: FakeClock
) -> None:
    analyst = make(worker=True)
    submit(analyst, clock)
    assert analyst.drain(10.0)
    worker = analyst._thread
    analyst.close()
    assert worker is not None
    assert not worker.is_alive()
    assert submit(analyst, clock, "QQQ") == "closed"


def test_a_failing_finding_callback_is_counted_not_raised(
    make: Callable[..., LLMAnalyst], clock: FakeClock
) -> None:
    def broken(_f: Finding) -> None:
        raise RuntimeError("store down")

    analyst = make(on_finding=broken)
    submit(analyst, clock)
    analyst.run_pending()
    s = analyst.stats()
    assert (s["ok"], s["findings"], s["callback_errors"]) == (1, 0, 1)


# ------------------------------------------------------------------------------ metrics


class _Families:
    """A collector serving the analyst's families, as api/metrics.py's section does."""

    def __init__(self, analyst: LLMAnalyst) -> None:
        self.analyst = analyst

    def collect(self) -> Iterator[Any]:
        yield from self.analyst.prometheus_families()


def test_prometheus_families(make: Callable[..., LLMAnalyst], server: LLMServer, clock: FakeClock) -> None:
    server.script("500")
    analyst = make(retry_attempts=2)
    submit(analyst, clock)
    analyst.run_pending()
    registry = CollectorRegistry()
    registry.register(_Families(analyst))
    text = generate_latest(registry).decode()
    for line in (
        "montalaq_llm_requests_total 2.0",
        "montalaq_llm_answers_total 1.0",
        'montalaq_llm_errors_total{kind="http_500"} 1.0',
        'montalaq_llm_tokens_total{type="prompt"} 120.0',
        'montalaq_llm_tokens_total{type="completion"} 40.0',
        "montalaq_llm_latency_seconds_count 1.0",
        'montalaq_llm_skipped_total{reason="interval"} 0.0',
        "montalaq_llm_breaker_open 0.0",
    ):
        assert line in text.splitlines(), line
    assert "_created" not in text


# ------------------------------------------------------------------------------ the answer's schema


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"label": "bullish", "score": 0.5, "confidence": 0.5, "rationale": "r"}', "label"),
        ('{"label": "BULLISH", "score": "0.5", "confidence": 0.5, "rationale": "r"}', "score"),
        ('{"label": "BULLISH", "score": 1.5, "confidence": 0.5, "rationale": "r"}', "score"),
        ('{"label": "BULLISH", "score": NaN, "confidence": 0.5, "rationale": "r"}', "score"),
        ('{"label": "BULLISH", "score": 0.5, "confidence": -0.1, "rationale": "r"}', "confidence"),
        ('{"label": "BULLISH", "score": 0.5, "confidence": 0.5}', "rationale"),
        ('{"label": "NEUTRAL", "score": 0, "confidence": 1, "rationale": "' + "r" * 501 + '"}', "rationale"),
    ],
)
def test_answers_outside_the_schema_are_malformed(content: str, why: str) -> None:
    with pytest.raises(LLMMalformedError, match=why) as caught:
        parse_answer(content)
    assert len(str(caught.value)) < 500


def test_extra_keys_are_ignored_and_integers_are_numbers() -> None:
    answer = parse_answer('{"label": "NEUTRAL", "score": 0, "confidence": 1, "rationale": "", "extra": [1]}')
    assert answer == LLMAnswer(label="NEUTRAL", score=0.0, confidence=1.0, rationale="")


# ------------------------------------------------------------------------------ wired into the service


def test_the_service_consults_the_analyst_after_its_agents_and_shows_it(
    server: LLMServer, tmp_path: Path
) -> None:
    """LLM_ENABLE in the settings: the service builds the analyst, submits each symbol its
    agents found something for (off the cycle), stores the answer as a finding and shows
    the analyst's numbers in /metrics and the health snapshot."""
    from fastapi.testclient import TestClient

    import montalaq
    from montalaq.api import create_app, models
    from montalaq.api.responses import json_bytes
    from montalaq.feeds import ReplayProvider
    from montalaq.ops import health_snapshot
    from montalaq.service import Service

    t1330 = 1_381_152_600 * S  # the SPY sample's 2013-10-07 13:30 UTC
    settings = Settings.from_env(
        {
            "SYMBOL": "SPY",
            "LLM_ENABLE": "true",
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": KEY,
            "OPENAI_MODEL": "test-model",
            "LLM_ANALYST_MIN_SCORE": "0.5",  # trend_score's conviction is at least 0.5
            "ALERTS_DIR": str(tmp_path / "alerts"),
            "METRICS_DIR": str(tmp_path / "metrics"),
        }
    )
    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    feed = ReplayProvider(spy, name="AllTick", start_offset_s=5.5 * 3600, start_ns=t1330)
    with Store(f"sqlite:///{tmp_path / 'llm.db'}") as store:
        svc = Service(settings, store=store, providers={"SPY": feed})
        try:
            assert svc.analyst is not None
            for t in range(t1330 + 60 * S, t1330 + 46 * 60 * S, 60 * S):  # 15m features need 45 minutes
                svc.step(t)
            assert svc.analyst.drain(20.0)
            answers = [f for f in svc.latest_findings("SPY", 200) if f.agent == AGENT]
            assert len(answers) == 1  # LLM_MIN_INTERVAL (300 s of wall time) allows one call
            assert server.count == 1
            request = server.requests[0]
            assert request.model == "test-model"
            assert "trend_score" in json.dumps(request.messages)
            snap = health_snapshot(svc)
            assert snap["llm"] is not None
            assert snap["llm"]["requests"] == 1
            # The analyst's numbers as the API's schema describes them (the LLMStats record).
            models.HealthSnapshot.model_validate_json(json_bytes(snap), strict=True)
            client = TestClient(create_app(settings, service=svc, token="t"))
            text = client.get("/metrics").text
            assert "montalaq_llm_requests_total 1.0" in text
            assert KEY not in text
            assert KEY not in json.dumps(snap, default=str)
        finally:
            svc.close()
