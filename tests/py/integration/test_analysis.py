"""The analysis runner (docs/semantics.md, Agents; docs/semantics.md, Guards; docs/semantics.md,
Notifications) over a real SQLite store, real bars from the
engine fed with the bundled SPY day, and a real notifier delivering to a loopback HTTP
receiver."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import montalaq
from montalaq.analysis import AnalysisRunner, RuleResult, TrendRuleAnalyzer
from montalaq.notify import Notifier, SignalHook, WebhookChannel
from montalaq.records import Analysis, AnalysisStatus, Decision
from montalaq.settings import Settings
from montalaq.store import Store
from receivers import HttpReceiver

T_END = 1_381_158_000_000_000_000  # 2013-10-07 15:00 UTC
NOW = T_END + 5 * 10**9
W = Settings.from_env({}).ts_weights


class RecordingStore(Store):
    """The real store, remembering the status of every analysis it was asked to save."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.saved: list[AnalysisStatus] = []

    def save_analysis(self, analysis: Analysis, now: Any = None) -> None:
        self.saved.append(analysis.status)
        super().save_analysis(analysis, now)


@dataclass(frozen=True)
class FakeBar:
    """A bar with a chosen close and ATR (for the undefined-ATR case)."""

    start_ns: int
    close: float
    atr: float


@pytest.fixture(scope="module")
def spy() -> montalaq.MarketEngine:
    trades = montalaq.read_trades(montalaq.sample_path("spy"))
    keep = trades.ts_ns < T_END
    engine = montalaq.MarketEngine(("1m", "5m", "15m"))
    engine.on_trades("SPY", trades.ts_ns[keep], trades.price[keep], trades.size[keep])
    engine.advance_time(T_END)
    return engine


@pytest.fixture
def bar(spy: montalaq.MarketEngine) -> montalaq.Bar:
    b = spy.latest("SPY", "1m")
    assert b is not None
    assert math.isfinite(b.atr)
    return b


@pytest.fixture
def features(spy: montalaq.MarketEngine) -> dict[str, float | None]:
    return spy.signals_tf("SPY")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RecordingStore]:
    s = RecordingStore(f"sqlite:///{tmp_path / 'analysis.db'}")
    yield s
    s.close()


def runner(store: Store, **kw: Any) -> AnalysisRunner:
    return AnalysisRunner(store, clock=lambda: NOW, **kw)


def trend(p_up: float) -> dict[str, float | None]:
    """Features whose trend score is exactly ``p_up`` (through mom_bps_1m)."""
    z = math.log(p_up / (1.0 - p_up))
    return {
        "mom_bps_1m": z / W[0],
        "mom_bps_5m": 0.0,
        "mom_bps_15m": 0.0,
        "px_vs_vwap_bps_1m": 0.0,
        "rvol_1m": 1.0,
    }


# ------------------------------------------------------------------------------ life cycle


def test_an_analysis_is_saved_pending_then_running_then_complete(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    a = runner(store).run("SPY", "1m", bar, features)
    assert store.saved == [AnalysisStatus.PENDING, AnalysisStatus.RUNNING, AnalysisStatus.COMPLETE]
    assert store.latest_analysis("SPY", "1m") == a


def test_the_model_runs_while_the_stored_analysis_is_running(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    seen: list[AnalysisStatus] = []

    def model(f: Mapping[str, float | None]) -> float:
        stored = store.latest_analysis("SPY", "1m")
        assert stored is not None
        seen.append(stored.status)
        return 50.0

    runner(store, ml=model).run("SPY", "1m", bar, features)
    assert seen == [AnalysisStatus.RUNNING]


def test_the_analysis_is_of_the_bar_with_its_close_and_a_correlation_id(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    a = runner(store).run("SPY", "1m", bar, features)
    assert montalaq._time.to_ns(a.bar_ts) == bar.start_ns
    assert a.close == bar.close
    assert a.correlation_id is not None
    assert len(a.correlation_id) == 8


# ------------------------------------------------------------------------------ scores


def test_rule_confidence_is_100_times_the_more_likely_side_of_the_trend_score(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    f = np.array(
        [features[k] for k in ("mom_bps_1m", "mom_bps_5m", "mom_bps_15m", "px_vs_vwap_bps_1m", "rvol_1m")]
    )
    f[4] -= 1.0
    p_up = 1.0 / (1.0 + np.exp(-np.dot(np.array(W), f)))
    a = runner(store).run("SPY", "1m", bar, features)
    assert a.rule_confidence_score == pytest.approx(100.0 * max(p_up, 1.0 - p_up), rel=1e-12)


@pytest.mark.parametrize(
    ("p_up", "decision"),
    [
        (0.6, Decision.BUY),
        (0.75, Decision.BUY),
        (0.5, Decision.HOLD),
        (0.41, Decision.HOLD),
        (0.25, Decision.SELL),
    ],
)
def test_the_decision_follows_ts_entry(
    store: RecordingStore, bar: montalaq.Bar, p_up: float, decision: Decision
) -> None:
    analyzer = TrendRuleAnalyzer(W, entry=0.6 - 1e-9)  # p_up = 0.6 lands within rounding of the entry
    assert runner(store, analyzer=analyzer).run("SPY", "1m", bar, trend(p_up)).final_decision is decision


def test_composite_is_the_weighted_mean_of_rule_and_model(store: RecordingStore, bar: montalaq.Bar) -> None:
    a = runner(store, ml=lambda f: 90.0).run("SPY", "1m", bar, trend(0.8))
    assert a.rule_confidence_score == pytest.approx(80.0)
    assert a.ml_confidence == 90.0
    assert a.composite_score == pytest.approx(85.0)


def test_composite_weights_are_configurable(store: RecordingStore, bar: montalaq.Bar) -> None:
    a = runner(store, ml=lambda f: 90.0, w_rule=0.8, w_ml=0.2).run("SPY", "1m", bar, trend(0.8))
    assert a.composite_score == pytest.approx(0.8 * 80.0 + 0.2 * 90.0)


def test_composite_is_the_rule_alone_when_the_model_abstains(
    store: RecordingStore, bar: montalaq.Bar
) -> None:
    a = runner(store, ml=lambda f: None).run("SPY", "1m", bar, trend(0.8))
    assert a.ml_confidence is None
    assert a.composite_score == pytest.approx(80.0)


def test_the_model_sees_the_features_with_close_and_atr(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    got: dict[str, float | None] = {}
    runner(store, ml=lambda f: got.update(f) or None).run("SPY", "1m", bar, features)
    assert got == {**features, "close": bar.close, "atr": bar.atr}


def test_undefined_trend_features_give_a_complete_hold_without_scores(
    store: RecordingStore, bar: montalaq.Bar
) -> None:
    a = runner(store, ml=lambda f: 70.0).run("SPY", "1m", bar, {"mom_bps_1m": None})
    assert (a.status, a.final_decision) == (AnalysisStatus.COMPLETE, Decision.HOLD)
    assert (a.rule_confidence_score, a.ml_confidence, a.composite_score) == (None, 70.0, None)


def test_weights_that_do_not_sum_to_one_are_refused(store: RecordingStore) -> None:
    with pytest.raises(ValueError, match="w_rule \\+ w_ml"):
        AnalysisRunner(store, w_rule=0.7, w_ml=0.7)


# ------------------------------------------------------------------------------ stop loss / take profit


def test_a_buy_gets_stop_loss_and_take_profit_from_the_bar_atr(
    store: RecordingStore, bar: montalaq.Bar
) -> None:
    a = runner(store).run("SPY", "1m", bar, trend(0.8))
    assert a.final_decision is Decision.BUY
    assert a.stop_loss == pytest.approx(bar.close - 1.5 * bar.atr)
    assert a.take_profit == pytest.approx(bar.close + 3.0 * bar.atr)


def test_a_sell_gets_mirrored_levels(store: RecordingStore, bar: montalaq.Bar) -> None:
    a = runner(store).run("SPY", "1m", bar, trend(0.2))
    assert a.final_decision is Decision.SELL
    assert a.stop_loss == pytest.approx(bar.close + 1.5 * bar.atr)
    assert a.take_profit == pytest.approx(bar.close - 3.0 * bar.atr)


def test_the_atr_used_is_that_of_the_analysed_timeframe(
    store: RecordingStore, spy: montalaq.MarketEngine
) -> None:
    bar15 = spy.latest("SPY", "15m")
    assert bar15 is not None
    a = runner(store).run("SPY", "15m", bar15, trend(0.8))
    assert a.take_profit == pytest.approx(bar15.close + 3.0 * bar15.atr)


def test_a_hold_gets_no_levels(store: RecordingStore, bar: montalaq.Bar) -> None:
    a = runner(store).run("SPY", "1m", bar, trend(0.5))
    assert (a.final_decision, a.stop_loss, a.take_profit) == (Decision.HOLD, None, None)


def test_levels_are_none_while_the_atr_is_undefined(store: RecordingStore, bar: montalaq.Bar) -> None:
    a = runner(store).run("SPY", "1m", FakeBar(bar.start_ns, bar.close, math.nan), trend(0.8))
    assert (a.final_decision, a.stop_loss, a.take_profit) == (Decision.BUY, None, None)


# ------------------------------------------------------------------------------ failures


def test_an_analyzer_exception_fails_the_analysis_through_the_taxonomy(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None]
) -> None:
    def broken(f: Mapping[str, float | None]) -> RuleResult:
        raise RuntimeError("model file corrupt")

    a = runner(store, analyzer=broken).run("SPY", "1m", bar, features)
    assert (a.status, a.error_code, a.error_message) == (
        AnalysisStatus.FAILED,
        "ANALYSIS_ERR",
        "RuntimeError: model file corrupt",
    )
    assert store.saved[-1] is AnalysisStatus.FAILED
    stored = store.latest_analysis("SPY", "1m")
    assert stored is not None
    assert (stored.status, stored.error_code) == (
        AnalysisStatus.FAILED,
        "ANALYSIS_ERR",
    )


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TimeoutError("slow model"), "INGESTION_TIMEOUT"),
        (KeyError("x"), "UNKNOWN"),
        (RuntimeError("x"), "ANALYSIS_ERR"),
    ],
)
def test_a_model_exception_is_coded_by_its_class(
    store: RecordingStore, bar: montalaq.Bar, features: dict[str, float | None], exc: Exception, code: str
) -> None:
    def model(f: Mapping[str, float | None]) -> float:
        raise exc

    a = runner(store, ml=model).run("SPY", "1m", bar, features)
    assert (a.status, a.error_code) == (AnalysisStatus.FAILED, code)
    assert (a.final_decision, a.composite_score) == (None, None)


@pytest.mark.parametrize("bad", [150.0, -1.0, math.nan, "90"])
def test_a_model_answer_outside_0_100_fails_as_analysis_err(
    store: RecordingStore, bar: montalaq.Bar, bad: Any
) -> None:
    a = runner(store, ml=lambda f: bad).run("SPY", "1m", bar, trend(0.8))
    assert (a.status, a.error_code) == (AnalysisStatus.FAILED, "ANALYSIS_ERR")


def test_runner_stats_count_outcomes_by_code(store: RecordingStore, bar: montalaq.Bar) -> None:
    r = runner(store, ml=lambda f: 200.0)
    r.run("SPY", "1m", bar, trend(0.8))
    r.ml = None
    r.run("SPY", "1m", bar, trend(0.8))
    assert (r.stats.complete, r.stats.failed, r.stats.by_error_code) == (1, 1, {"ANALYSIS_ERR": 1})


# ------------------------------------------------------------------------------ the signal


def signal_runner(store: Store, receiver: HttpReceiver) -> AnalysisRunner:
    notifier = Notifier(store, [WebhookChannel(receiver.url + "/signals")], clock=lambda: NOW)
    hook = SignalHook(notifier, threshold=70, dedupe_window_s=900)
    return runner(store, signal_hook=hook)


def test_a_qualifying_analysis_is_notified_once_per_bar(
    store: RecordingStore, bar: montalaq.Bar, http_receiver: HttpReceiver
) -> None:
    r = signal_runner(store, http_receiver)
    first = r.run("SPY", "1m", bar, trend(0.8))
    r.run("SPY", "1m", bar, trend(0.8))  # the same bar again: deduped
    assert r.signal_hook is not None
    r.signal_hook.notifier.deliver_once()
    [req] = http_receiver.accepted()
    assert (req.json["kind"], req.json["correlation_id"]) == ("signal", first.correlation_id)
    assert (req.json["fields"]["decision"], req.json["fields"]["composite_score"]) == ("BUY", 80.0)


def test_an_analysis_below_the_threshold_is_not_notified(
    store: RecordingStore, bar: montalaq.Bar, http_receiver: HttpReceiver
) -> None:
    r = signal_runner(store, http_receiver)
    r.run("SPY", "1m", bar, trend(0.6))  # composite 60 < 70
    assert r.signal_hook is not None
    assert r.signal_hook.notifier.deliver_once() == 0
    assert http_receiver.requests == []


def test_a_failed_analysis_is_never_notified(
    store: RecordingStore, bar: montalaq.Bar, http_receiver: HttpReceiver
) -> None:
    r = signal_runner(store, http_receiver)
    r.ml = lambda f: 1000.0
    assert r.run("SPY", "1m", bar, trend(0.9)).status is AnalysisStatus.FAILED
    assert r.signal_hook is not None
    assert r.signal_hook.notifier.deliver_once() == 0
    assert http_receiver.requests == []
