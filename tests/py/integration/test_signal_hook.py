"""The analysis signal hook: once per (symbol, timeframe, bar_ts) within the dedupe window,
enforced by the cache and, across processes and restarts, by the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from montalaq.notify import Notifier, SignalDecision, SignalHook, WebhookChannel, signal_key
from montalaq.records import Analysis, AnalysisStatus, Decision
from montalaq.store import Store

BAR = datetime(2026, 3, 2, 14, 31, tzinfo=UTC)
NOW = BAR + timedelta(minutes=1, seconds=2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'signals.db'}")
    yield s
    s.close()


def _analysis(
    score: float | None = 82.0,
    status: AnalysisStatus = AnalysisStatus.COMPLETE,
    bar: datetime = BAR,
    **kw: Any,
) -> Analysis:
    return Analysis(
        "SPY",
        "1m",
        bar,
        status=status,
        final_decision=Decision.BUY,
        rule_confidence_score=score,
        composite_score=score,
        close=512.25,
        stop_loss=511.0,
        take_profit=514.75,
        correlation_id="c0ffee01",
        **kw,
    )


def _hook(store: Store, url: str) -> SignalHook:
    return SignalHook(Notifier(store, [WebhookChannel(url)]), threshold=70, dedupe_window_s=900)


def test_a_qualifying_analysis_notifies_once_with_its_fields(store: Store, http_receiver: Any) -> None:
    hook = _hook(store, http_receiver.url + "/hook")
    assert hook.on_analysis(_analysis(), now=NOW) is SignalDecision.NOTIFIED
    assert hook.on_analysis(_analysis(), now=NOW + timedelta(seconds=5)) is SignalDecision.DEDUPED
    hook.notifier.deliver_once()
    [req] = http_receiver.accepted()
    assert req.json["kind"] == "signal"
    assert req.json["correlation_id"] == "c0ffee01"
    f = req.json["fields"]
    assert (f["symbol"], f["timeframe"], f["bar_ts"], f["decision"]) == (
        "SPY",
        "1m",
        "2026-03-02T14:31:00Z",
        "BUY",
    )
    assert (f["composite_score"], f["stop_loss"], f["take_profit"]) == (82.0, 511.0, 514.75)
    [status] = store.ingestion_status("SPY")
    assert status["last_signal_bar_ts"] == BAR


def test_the_database_dedupes_across_workers_with_separate_caches(store: Store, http_receiver: Any) -> None:
    a = _hook(store, http_receiver.url + "/hook")
    b = _hook(store, http_receiver.url + "/hook")  # another worker: its own cache, same DB
    assert a.on_analysis(_analysis(), now=NOW) is SignalDecision.NOTIFIED
    assert b.on_analysis(_analysis(), now=NOW) is SignalDecision.DEDUPED_DB
    key = signal_key("SPY", "1m", BAR)
    assert [e["action"] for e in store.dedup_events(key)] == ["DEDUPED_DB", "ALLOWED"]


def test_the_same_bar_notifies_again_after_the_window(store: Store, http_receiver: Any) -> None:
    hook = _hook(store, http_receiver.url + "/hook")
    assert hook.on_analysis(_analysis(), now=NOW) is SignalDecision.NOTIFIED
    later = NOW + timedelta(seconds=901)
    assert hook.on_analysis(_analysis(), now=later) is SignalDecision.NOTIFIED
    assert len(store.outbox.rows()) == 2


def test_a_newer_bar_notifies_and_an_older_one_does_not(store: Store, http_receiver: Any) -> None:
    hook = _hook(store, http_receiver.url + "/hook")
    assert hook.on_analysis(_analysis(), now=NOW) is SignalDecision.NOTIFIED
    nxt = BAR + timedelta(minutes=1)
    assert hook.on_analysis(_analysis(bar=nxt), now=NOW + timedelta(minutes=1)) is SignalDecision.NOTIFIED
    late = BAR - timedelta(minutes=1)  # arrives after a newer bar was signalled: stale
    assert hook.on_analysis(_analysis(bar=late), now=NOW + timedelta(minutes=2)) is SignalDecision.DEDUPED_DB


def test_a_restart_does_not_notify_the_same_bar_again(tmp_path: Path, http_receiver: Any) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    with Store(url) as s1:
        assert _hook(s1, http_receiver.url).on_analysis(_analysis(), now=NOW) is SignalDecision.NOTIFIED
    with Store(url) as s2:
        assert _hook(s2, http_receiver.url).on_analysis(_analysis(), now=NOW) is SignalDecision.DEDUPED_DB


@pytest.mark.parametrize(
    ("analysis", "decision"),
    [
        (lambda: _analysis(score=69.99), SignalDecision.BELOW_THRESHOLD),
        (lambda: _analysis(score=None), SignalDecision.BELOW_THRESHOLD),
        (
            lambda: _analysis(status=AnalysisStatus.FAILED, error_code="ANALYSIS_ERR"),
            SignalDecision.NOT_COMPLETE,
        ),
        (lambda: _analysis(status=AnalysisStatus.RUNNING), SignalDecision.NOT_COMPLETE),
    ],
)
def test_analyses_that_do_not_qualify_queue_nothing(
    store: Store, http_receiver: Any, analysis: Any, decision: SignalDecision
) -> None:
    assert _hook(store, http_receiver.url).on_analysis(analysis(), now=NOW) is decision
    assert store.outbox.rows() == []


def test_the_threshold_is_inclusive(store: Store, http_receiver: Any) -> None:
    assert (
        _hook(store, http_receiver.url).on_analysis(_analysis(score=70.0), now=NOW) is SignalDecision.NOTIFIED
    )


def test_hook_arguments_are_validated(store: Store) -> None:
    n = Notifier(store, [])
    with pytest.raises(ValueError, match="threshold"):
        SignalHook(n, threshold=101)
    with pytest.raises(ValueError, match="dedupe_window_s"):
        SignalHook(n, dedupe_window_s=0)
    with pytest.raises(TypeError, match="analysis"):
        SignalHook(n).on_analysis({"symbol": "SPY"})  # type: ignore[arg-type]


def _signal_rows(store: Store) -> list[Any]:
    return [r for r in store.outbox.rows() if r.kind == "signal"]


def test_an_outbox_failure_after_the_claim_loses_nothing_when_called_again(
    store: Store, http_receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database claim succeeds, then the outbox write fails (the database went away):
    the hook raises, and the next call for that bar -- here, or in another process whose
    cache never saw it -- queues the notification once, under the claim's key."""
    hook = _hook(store, http_receiver.url + "/hook")
    real_enqueue = store.enqueue

    def failing(*args: Any, **kwargs: Any) -> int:
        raise ConnectionError("database went away")

    monkeypatch.setattr(store, "enqueue", failing)
    with pytest.raises(ConnectionError):
        hook.on_analysis(_analysis(), now=NOW)
    assert store.ingestion_status("SPY")[0]["last_signal_bar_ts"] == BAR  # the claim stands
    assert _signal_rows(store) == []
    monkeypatch.setattr(store, "enqueue", real_enqueue)
    assert hook.on_analysis(_analysis(), now=NOW + timedelta(seconds=3)) is SignalDecision.NOTIFIED
    other = _hook(store, http_receiver.url + "/hook")  # another worker, same database
    assert other.on_analysis(_analysis(), now=NOW + timedelta(seconds=4)) is SignalDecision.DEDUPED_DB
    [row] = _signal_rows(store)
    assert row.idempotency_key.endswith(f"-{int(NOW.timestamp() // 900)}")  # the claim's window
    key = signal_key("SPY", "1m", BAR)
    assert [e["action"] for e in store.dedup_events(key)] == ["DEDUPED_DB", "REQUEUED"]
    hook.notifier.deliver_once()
    assert len(http_receiver.accepted()) == 1
