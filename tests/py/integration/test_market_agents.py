"""The flag-switched agents (docs/semantics.md, "Agents") on real data, each with a known
case: a window of the tape where its rule must fire and one where it must not. The tape is
replayed minute by minute through a real MarketEngine, the agents evaluated every minute as
the scheduler would (trend_score first, so the reversal agent sees its posture)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import montalaq
from montalaq.agents import AgentContext, TrendScore, default_registry
from montalaq.market_agents import Liquidity, MacroWatcher, NewTrend, Reversal, parse_windows
from montalaq.records import Finding
from montalaq.settings import Settings

NS = 1_000_000_000
MINUTE = 60 * NS
SETTINGS = Settings.from_env({})


def utc(day: str, hhmm: str) -> int:
    return int(datetime.fromisoformat(f"{day}T{hhmm}:00+00:00").timestamp()) * NS


def replay(
    ts: np.ndarray,
    feed: Callable[[montalaq.MarketEngine, int, int], None],
    agents: Sequence[Callable[[AgentContext], Finding | None]],
    symbol: str,
) -> list[tuple[int, Finding]]:
    """Every minute from the first event to the last: feed what happened, close bars, run
    the agents; their findings with the minute."""
    engine = montalaq.MarketEngine(["1m", "5m", "15m"], symbols=[symbol])
    out: list[tuple[int, Finding]] = []
    i = 0
    for t in range(int(ts[0]) // MINUTE * MINUTE + MINUTE, int(ts[-1]), MINUTE):
        j = int(np.searchsorted(ts, t, side="right"))
        if j > i:
            feed(engine, i, j)
            i = j
        engine.advance_time(t)
        ctx = AgentContext.from_engine(engine, symbol, t, SETTINGS)
        for agent in agents:
            f = agent(ctx)
            if f is not None:
                out.append((t, f))
    return out


def spy_day(load_trades: Callable[[str], montalaq.Trades], day: str) -> montalaq.Trades:
    return load_trades(f"lean_spy_trades_2013-10/{day}_spy_Trade_Tick.csv")


def run_spy(
    trades: montalaq.Trades, *agents: Callable[[AgentContext], Finding | None]
) -> list[tuple[int, Finding]]:
    def feed(engine: montalaq.MarketEngine, i: int, j: int) -> None:
        engine.on_trades("SPY", trades.ts_ns[i:j], trades.price[i:j], trades.size[i:j])

    return replay(trades.ts_ns, feed, agents, "SPY")


def in_window(found: list[tuple[int, Finding]], agent: str, start: int, end: int) -> list[Finding]:
    return [f for t, f in found if f.agent == agent and start <= t < end]


def test_new_trend_fires_at_the_onset_of_an_aligned_move_and_not_in_a_quiet_session(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    found = run_spy(spy_day(load_trades, "20131007"), NewTrend())
    day = "2013-10-07"
    onset = in_window(found, "new_trend", utc(day, "13:40"), utc(day, "13:50"))
    assert onset
    assert onset[0].label == "UP"
    assert all(f.details[f"mom_bps_{tf}"] > 0 for tf in ("1m", "5m", "15m") for f in onset)
    assert onset[0].score == pytest.approx(
        sum(
            w * onset[0].details[f"mom_bps_{tf}"]
            for w, tf in zip((0.2, 0.3, 0.5), ("1m", "5m", "15m"), strict=True)
        )
    )
    assert in_window(found, "new_trend", utc(day, "14:00"), utc(day, "16:00")) == []
    closing = in_window(found, "new_trend", utc(day, "19:55"), utc(day, "20:05"))
    assert [f.label for f in closing] == ["DOWN"]


def test_reversal_fires_when_momentum_turns_against_the_posture_on_volume(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    trend = TrendScore.from_settings(SETTINGS, None)
    found = run_spy(spy_day(load_trades, "20131008"), trend, Reversal(trend))
    day = "2013-10-08"
    hits = in_window(found, "reversal", utc(day, "18:55"), utc(day, "19:30"))
    assert hits
    assert {f.label for f in hits} == {"AGAINST_SHORT"}
    assert all(f.details["mom_bps_1m"] >= 5 and f.details["mom_bps_5m"] >= 5 for f in hits)
    assert all(f.details["rvol_1m"] >= 1.5 for f in hits)
    # The posture it fired against: the trend_score finding of the same minute said SHORT.
    t_hit = next(t for t, f in found if f.agent == "reversal" and f is hits[0])
    [posture] = [f.label for t, f in found if t == t_hit and f.agent == "trend_score"]
    assert posture == "SHORT"
    assert in_window(found, "reversal", utc(day, "14:00"), utc(day, "18:00")) == []


def test_liquidity_flags_block_prints_on_the_spy_tape(load_trades: Callable[[str], montalaq.Trades]) -> None:
    found = run_spy(spy_day(load_trades, "20131007"), Liquidity())
    day = "2013-10-07"
    late = in_window(found, "liquidity", utc(day, "20:30"), utc(day, "20:40"))
    assert [f.label for f in late] == ["LARGE_TRADES"]
    assert late[0].score >= 5
    assert late[0].details["avg_trade_size"] >= 5 * late[0].details["avg_trade_size_mean"]
    assert in_window(found, "liquidity", utc(day, "14:00"), utc(day, "16:00")) == []


def test_liquidity_flags_the_fx_rollover_spread(data_dir: Path) -> None:
    rows = np.loadtxt(
        data_dir / "lean_eurusd_quotes_2014-05/oanda/20140506_eurusd_tick_quote.csv", delimiter=","
    )
    ts = utc("2014-05-06", "00:00") + (rows[:, 0] * 1e6).astype(np.int64)

    def feed(engine: montalaq.MarketEngine, i: int, j: int) -> None:
        for k in range(i, j):
            engine.on_quote("EURUSD", int(ts[k]), float(rows[k, 1]), float(rows[k, 2]))

    found = replay(ts, feed, [Liquidity()], "EURUSD")
    day = "2014-05-06"
    rollover = in_window(found, "liquidity", utc(day, "21:00"), utc(day, "21:10"))
    assert rollover
    assert {f.label for f in rollover} == {"WIDE_SPREAD"}
    assert all(f.details["spread_bps"] >= 2 * f.details["spread_mean_bps"] for f in rollover)
    assert in_window(found, "liquidity", utc(day, "14:00"), utc(day, "20:00")) == []


def test_the_macro_watcher_fires_inside_a_window_on_volume_and_not_outside(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    windows = parse_windows(["09:30 America/New_York", "11:00 America/New_York"], 30)
    found = run_spy(spy_day(load_trades, "20131007"), MacroWatcher(windows, rvol_min=5.0))
    day = "2013-10-07"
    opening = in_window(found, "macro", utc(day, "13:30"), utc(day, "14:00"))  # 09:30 EDT
    assert opening
    assert {f.details["window"] for f in opening} == {"09:30 America/New_York"}
    assert all(f.score >= 5 for f in opening)
    assert in_window(found, "macro", utc(day, "15:00"), utc(day, "15:30")) == []  # 11:00 EDT: calm
    assert all(utc(day, "13:30") <= t < utc(day, "14:00") for t, f in found)  # never outside a window


def test_macro_windows_are_validated_naming_the_item() -> None:
    with pytest.raises(ValueError, match="expected 'HH:MM Zone'"):
        parse_windows(["8:30"], 30)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        parse_windows(["08:30 Mars/Olympus"], 30)
    with pytest.raises(ValueError, match="not a time of day"):
        parse_windows(["24:00 UTC"], 30)
    with pytest.raises(ValueError, match="MACRO_WINDOWS"):
        Settings.from_env({"MACRO_WINDOWS": "8h30 New York"})
    # A window that runs past midnight in its zone.
    [w] = parse_windows(["23:50 UTC"], 30)
    assert w.contains(datetime(2024, 1, 2, 0, 10, tzinfo=UTC))
    assert not w.contains(datetime(2024, 1, 2, 0, 20, tzinfo=UTC))


def test_flags_switch_the_agents_on_and_off() -> None:
    assert default_registry(Settings.from_env({})).names() == ["rvol_spike", "trend_score"]
    on = Settings.from_env(
        {
            "FEATURE_NEW_TREND": "true",
            "FEATURE_REVERSAL": "1",
            "FEATURE_LIQUIDITY": "yes",
            "MACRO_WINDOWS": "08:30 America/New_York",
            "MACRO_INTERVAL_SEC": "15",
            "TS_INTERVAL": "120",
        }
    )
    reg = default_registry(on)
    assert reg.names() == ["rvol_spike", "trend_score", "new_trend", "reversal", "liquidity", "macro"]
    assert reg.get("trend_score").interval_s == 120
    assert reg.get("macro").interval_s == 15


def test_feature_bars_puts_the_latest_closed_bars_in_every_finding(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    trades = spy_day(load_trades, "20131007")
    engine = montalaq.MarketEngine(["1m", "5m", "15m"], symbols=["SPY"])
    end = utc("2013-10-07", "14:30")
    keep = trades.ts_ns < end
    engine.on_trades("SPY", trades.ts_ns[keep], trades.price[keep], trades.size[keep])
    engine.advance_time(end)
    ctx = AgentContext.from_engine(engine, "SPY", end, SETTINGS)
    with_bars = default_registry(Settings.from_env({"FEATURE_BARS": "true"}))
    plain = default_registry(Settings.from_env({}))
    f = with_bars.run("trend_score", ctx)
    g = plain.run("trend_score", ctx)
    assert f is not None
    assert g is not None
    assert set(f.details["bars"]) == {"1m", "5m", "15m"}
    assert f.details["bars"]["5m"]["start_ns"] == utc("2013-10-07", "14:25")
    assert f.details["bars"]["1m"]["close"] == float(trades.price[keep][-1])
    assert "bars" not in g.details
