"""Agents (docs/semantics.md, Agents): the registry and its decorator, the built-in trend_score (formula,
posture with TS_PERSIST, SHORT mirror, persistence in position_state) and rvol_spike."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import montalaq
from montalaq.agents import (
    TREND_FEATURES,
    AgentContext,
    AgentRegistry,
    RvolSpike,
    TrendScore,
    agent,
    default_registry,
    trend_p_up,
)
from montalaq.records import Finding
from montalaq.settings import Settings
from montalaq.store import Store

T0 = 1_381_154_400_000_000_000  # 2013-10-07 14:00 UTC
SETTINGS = Settings.from_env({})
W = SETTINGS.ts_weights


@pytest.fixture(scope="module")
def spy_engine() -> montalaq.MarketEngine:
    """A real engine over the bundled SPY day up to 15:00 UTC (every feature defined)."""
    trades = montalaq.read_trades(montalaq.sample_path("spy"))
    keep = trades.ts_ns < T0 + 3600 * 10**9
    engine = montalaq.MarketEngine(("1m", "5m", "15m"))
    engine.on_trades("SPY", trades.ts_ns[keep], trades.price[keep], trades.size[keep])
    return engine


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'agents.db'}")
    yield s
    s.close()


def ctx_for(p_up: float, symbol: str = "SPY", now_ns: int = T0) -> AgentContext:
    """A context whose trend features give exactly the logit of ``p_up`` (through mom_bps_1m)."""
    z = math.log(p_up / (1.0 - p_up))
    tf = {
        "mom_bps_1m": z / W[0],
        "mom_bps_5m": 0.0,
        "mom_bps_15m": 0.0,
        "px_vs_vwap_bps_1m": 0.0,
        "rvol_1m": 1.0,
    }
    return AgentContext(symbol=symbol, now_ns=now_ns, settings=SETTINGS, signals_tf=tf)


def postures(agent_: TrendScore, p_values: list[float], symbol: str = "SPY") -> list[str]:
    out = []
    for i, p in enumerate(p_values):
        finding = agent_(ctx_for(p, symbol, T0 + i * 60 * 10**9))
        assert finding is not None
        out.append(finding.label)
    return out


# ------------------------------------------------------------------------------ trend score formula


def test_trend_score_p_up_matches_a_direct_numpy_computation_on_real_features(
    spy_engine: montalaq.MarketEngine,
) -> None:
    last = {tf: spy_engine.features("SPY", tf) for tf in ("1m", "5m", "15m")}
    f = np.array(
        [
            last["1m"].mom_bps[-1],
            last["5m"].mom_bps[-1],
            last["15m"].mom_bps[-1],
            last["1m"].px_vs_vwap_bps[-1],
            last["1m"].rvol[-1] - 1.0,
        ]
    )
    expected = 1.0 / (1.0 + np.exp(-(0.0 + np.dot(np.array(W), f))))
    ctx = AgentContext.from_engine(spy_engine, "SPY", T0 + 3600 * 10**9, SETTINGS)
    finding = TrendScore.from_settings(SETTINGS)(ctx)
    assert finding is not None
    assert finding.score == pytest.approx(float(expected), rel=1e-12)
    assert finding.details["p_up"] == finding.score


def test_trend_score_uses_ts_weights_from_settings(spy_engine: montalaq.MarketEngine) -> None:
    settings = Settings.from_env({"TS_WEIGHTS": "0.5,0,0,0,0"})
    ctx = AgentContext.from_engine(spy_engine, "SPY", T0, settings)
    finding = TrendScore.from_settings(settings)(ctx)
    assert finding is not None
    mom1 = spy_engine.features("SPY", "1m").mom_bps[-1]
    assert finding.score == pytest.approx(1.0 / (1.0 + math.exp(-0.5 * mom1)), rel=1e-12)


@pytest.mark.parametrize(("z", "expected"), [(-800.0, 0.0), (800.0, 1.0), (0.0, 0.5)])
def test_p_up_stays_finite_for_extreme_logits(z: float, expected: float) -> None:
    assert trend_p_up([z, 0, 0, 0, 0], [1, 0, 0, 0, 0]) == pytest.approx(expected, abs=1e-300)


@pytest.mark.parametrize("missing", TREND_FEATURES)
def test_trend_score_returns_no_finding_when_a_feature_is_undefined(missing: str) -> None:
    ctx = ctx_for(0.9)
    tf = dict(ctx.signals_tf)
    tf[missing] = None if missing != "rvol_1m" else math.nan
    blank = AgentContext(symbol="SPY", now_ns=T0, settings=SETTINGS, signals_tf=tf)
    assert TrendScore()(blank) is None


def test_an_undefined_evaluation_leaves_the_streak_untouched() -> None:
    ts = TrendScore(persist=3)
    blank = AgentContext(symbol="SPY", now_ns=T0, settings=SETTINGS, signals_tf={})
    ts(ctx_for(0.9))
    ts(ctx_for(0.9))
    assert ts(blank) is None
    assert postures(ts, [0.9]) == ["LONG"]


# ------------------------------------------------------------------------------ posture


def test_flat_turns_long_after_exactly_ts_persist_evaluations_at_or_above_entry() -> None:
    assert postures(TrendScore(persist=3, entry=0.6), [0.7, 0.7, 0.7]) == ["FLAT", "FLAT", "LONG"]


def test_an_evaluation_below_entry_restarts_the_entry_count() -> None:
    assert postures(TrendScore(persist=3), [0.7, 0.7, 0.55, 0.7, 0.7]) == ["FLAT"] * 5


def test_long_turns_flat_after_ts_persist_evaluations_at_or_below_exit_inclusive() -> None:
    ts = TrendScore(persist=2, entry=0.6, exit=0.5)
    # p_up = 0.5 exactly (logit 0): equal to TS_EXIT, which counts as an exit.
    assert postures(ts, [0.8, 0.8, 0.5, 0.5]) == ["FLAT", "LONG", "LONG", "FLAT"]


def test_long_holds_while_p_up_stays_above_exit() -> None:
    ts = TrendScore(persist=2, entry=0.6, exit=0.5)
    assert postures(ts, [0.8, 0.8, 0.45, 0.55, 0.45]) == ["FLAT", "LONG", "LONG", "LONG", "LONG"]


def test_short_mirrors_long_with_one_minus_p_up() -> None:
    ts = TrendScore(persist=3, entry=0.6, exit=0.5)
    assert postures(ts, [0.3, 0.3, 0.3]) == ["FLAT", "FLAT", "SHORT"]
    assert postures(ts, [0.55, 0.55, 0.55]) == ["SHORT", "SHORT", "FLAT"]


def test_a_reversal_goes_through_flat_and_needs_a_fresh_streak() -> None:
    ts = TrendScore(persist=2)
    assert postures(ts, [0.9, 0.9, 0.1, 0.1, 0.1, 0.1]) == ["FLAT", "LONG", "LONG", "FLAT", "FLAT", "SHORT"]


def test_postures_are_kept_per_symbol() -> None:
    ts = TrendScore(persist=1)
    postures(ts, [0.9], "SPY")
    postures(ts, [0.1], "QQQ")
    assert ts.postures() == {"SPY": "LONG", "QQQ": "SHORT"}


def test_a_posture_change_is_persisted_in_position_state(store: Store) -> None:
    ts = TrendScore(persist=2, store=store)
    postures(ts, [0.8, 0.8])
    [row] = store.positions()
    assert (row["symbol"], row["status"], row["last_action"]) == ("SPY", "LONG", "FLAT->LONG")
    assert row["last_conf"] == pytest.approx(0.8)


def test_the_posture_is_restored_from_position_state_at_start(store: Store) -> None:
    postures(TrendScore(persist=2, store=store), [0.2, 0.2])
    again = TrendScore(persist=2, store=store)
    assert again.posture("SPY") == "SHORT"


# ------------------------------------------------------------------------------ rvol spike


def rvol_ctx(rvol: float | None) -> AgentContext:
    return AgentContext(
        symbol="SPY",
        now_ns=T0,
        settings=SETTINGS,
        signals={"best_bid": 167.1, "best_ask": 167.12},
        signals_tf={"rvol_5m": rvol},
        bars={"5m": {"volume": 12_345.0, "close": 167.11}},
    )


def test_rvol_spike_fires_at_exactly_the_threshold() -> None:
    finding = RvolSpike(3.0)(rvol_ctx(3.0))
    assert finding is not None
    assert (finding.agent, finding.score, finding.label) == ("rvol_spike", 3.0, "spike")


def test_rvol_spike_stays_quiet_just_below_the_threshold() -> None:
    assert RvolSpike(3.0)(rvol_ctx(math.nextafter(3.0, 0.0))) is None


def test_rvol_spike_details_carry_rvol_volume_and_quotes() -> None:
    finding = RvolSpike(3.0)(rvol_ctx(4.5))
    assert finding is not None
    assert {k: finding.details[k] for k in ("rvol", "volume_5m", "best_bid", "best_ask")} == {
        "rvol": 4.5,
        "volume_5m": 12_345.0,
        "best_bid": 167.1,
        "best_ask": 167.12,
    }


def test_rvol_spike_returns_nothing_while_rvol_is_undefined() -> None:
    assert RvolSpike(0.0)(rvol_ctx(None)) is None


# ------------------------------------------------------------------------------ registry


def test_a_user_agent_registered_by_decorator_runs_and_reports_ok() -> None:
    registry = AgentRegistry()

    @registry.agent("always", interval_s=5)
    def always(ctx: AgentContext) -> Finding | None:
        return ctx.finding("always", score=1.5, label="hi")

    finding = registry.run("always", ctx_for(0.5))
    assert finding is not None
    assert (finding.agent, finding.symbol, finding.score, finding.ts_utc) == (
        "always",
        "SPY",
        1.5,
        ctx_for(0.5).now,
    )
    assert registry.status("always")["always"]["status"] == "ok"
    assert registry.get("always").interval_s == 5.0


def test_the_module_decorator_tags_a_function_for_a_later_registry() -> None:
    @agent("tagged", interval_s=30)
    def tagged(ctx: AgentContext) -> Finding | None:
        return None

    registry = AgentRegistry()
    registry.add(tagged)
    assert registry.names() == ["tagged"]
    assert tagged(ctx_for(0.5)) is None  # still the plain function


def test_a_failing_user_agent_is_recorded_as_error_not_raised() -> None:
    registry = AgentRegistry()

    @registry.agent("broken")
    def broken(ctx: AgentContext) -> Finding | None:
        raise ZeroDivisionError("no volume")

    assert registry.run("broken", ctx_for(0.5)) is None
    status = registry.status("broken")["broken"]
    assert (status["status"], status["last_error"], status["errors"]) == (
        "error",
        "ZeroDivisionError: no volume",
        1,
    )
    assert status["last_run"] == ctx_for(0.5).now


def test_an_agent_returning_something_else_than_a_finding_is_an_error() -> None:
    registry = AgentRegistry()
    registry.register("wrong", lambda ctx: 42)  # type: ignore[arg-type,return-value]
    assert registry.run("wrong", ctx_for(0.5)) is None
    error = registry.status("wrong")["wrong"]["last_error"]
    assert error is not None
    assert "returned int" in error


def test_an_agent_that_never_ran_says_so() -> None:
    assert default_registry(SETTINGS).status() == {
        "rvol_spike": {"status": "never_run", "last_run": None, "last_error": None, "runs": 0, "errors": 0},
        "trend_score": {"status": "never_run", "last_run": None, "last_error": None, "runs": 0, "errors": 0},
    }


def test_a_finding_carries_the_correlation_id_of_its_run() -> None:
    registry = default_registry(SETTINGS)
    a = registry.run("trend_score", ctx_for(0.9))
    b = registry.run("trend_score", ctx_for(0.9))
    assert a is not None
    assert b is not None
    assert a.correlation_id is not None
    assert len(a.correlation_id) == 8
    assert a.correlation_id != b.correlation_id


def test_an_agent_is_due_once_its_interval_has_passed_since_its_last_run() -> None:
    registry = AgentRegistry()
    registry.register("every_minute", lambda ctx: None, interval_s=60)
    assert registry.due(T0) == ["every_minute"]
    registry.run("every_minute", ctx_for(0.5, now_ns=T0))
    assert registry.due(T0 + 59 * 10**9) == []
    assert registry.due(T0 + 60 * 10**9) == ["every_minute"]


def test_registering_a_taken_name_is_refused() -> None:
    registry = default_registry(SETTINGS)
    with pytest.raises(ValueError, match="'trend_score' is already registered"):
        registry.register("trend_score", lambda ctx: None)


def test_an_unknown_agent_name_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        default_registry(SETTINGS).validate(["rvol_spike", "nope"])


@pytest.mark.parametrize("interval", [0, -1.0, math.inf])
def test_a_non_positive_interval_is_refused(interval: float) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        AgentRegistry().register("x", lambda ctx: None, interval_s=interval)


def test_context_from_engine_serves_the_engine_signals_and_latest_bars(
    spy_engine: montalaq.MarketEngine,
) -> None:
    ctx = AgentContext.from_engine(spy_engine, "SPY", T0, SETTINGS)
    bar = spy_engine.latest("SPY", "5m")
    assert bar is not None
    assert ctx.signals_tf == spy_engine.signals_tf("SPY")
    assert ctx.bars["5m"]["volume"] == bar.volume
    assert ctx.bars["5m"]["start_ns"] == bar.start_ns
