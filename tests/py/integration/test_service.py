"""The service (docs/semantics.md, Agents; docs/semantics.md, Health core; docs/semantics.md, Notifications;
docs/semantics.md, Persistence; docs/semantics.md, HTTP API) over the bundled SPY day replayed through a
real engine, board, SQLite store and notifier: the payloads the API serves, operator
actions, the scheduler, and the end-to-end check of a feed gap (AMBER -> RED,
WARN -> ERROR -> CRITICAL, that pair's breaker only, dry-run notifications, status)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import montalaq
from montalaq.feeds import Provider, ReplayProvider, SimulatedProvider, TradeBatch
from montalaq.notify import notifier_from_settings
from montalaq.records import AnalysisStatus
from montalaq.service import Service, StepReport
from montalaq.settings import Settings
from montalaq.shapes import IngestionStatus
from montalaq.store import Store

NS = 1_000_000_000
SESSION_OFFSET_S = 5.5 * 3600  # the SPY sample starts at 08:00 UTC; the session at 13:30
T1330 = 1_381_152_600_000_000_000  # 2013-10-07 13:30 UTC
HOLE_START = T1330 + 40 * 60 * NS  # 14:10:00
HOLE_END = HOLE_START + 7 * 60 * NS  # 14:17:00 (420 s: beyond 1m's red_after, within 5m's amber_after)
ENV = {"SYMBOL": "SPY", "ESCALATION_EVAL_INTERVAL_SEC": "30", "BREAKER_AUTO_CLOSE_CYCLES": "1000"}
SIGNALS_KEYS = {
    "mom1_bps",
    "mom5_bps",
    "rvol_vs_recent",
    "px_vs_vwap_bps",
    "best_bid",
    "best_ask",
    "last_price",
    "trades_cached",
}
SIGNALS_TF_KEYS = {
    f"{f}_{tf}" for f in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr") for tf in ("1m", "5m", "15m")
}


@pytest.fixture(scope="module")
def spy() -> montalaq.Trades:
    return montalaq.read_trades(montalaq.sample_path("spy"))


def with_hole(trades: montalaq.Trades, start: int, end: int) -> montalaq.Trades:
    keep = (trades.ts_ns < start) | (trades.ts_ns >= end)
    return replace(trades, ts_ns=trades.ts_ns[keep], price=trades.price[keep], size=trades.size[keep])


def replay(trades: montalaq.Trades, name: str = "AllTick", **kw: Any) -> ReplayProvider:
    """The session from 13:30 UTC at the file's own times."""
    return ReplayProvider(trades, name=name, start_offset_s=SESSION_OFFSET_S, start_ns=T1330, **kw)


def drive(service: Service, start: int, end: int, every_s: int = 30) -> list[StepReport]:
    return [service.step(t) for t in range(start, end + 1, every_s * NS)]


class LogRecords(logging.Handler):
    """Keeps the records of one logger (module-scoped fixtures cannot use caplog)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(logger)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogRecords:
        self.logger.addHandler(self)
        self._level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


@pytest.fixture(scope="module")
def warm(spy: montalaq.Trades, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service that replayed 13:30-15:00 in 30 s cycles (read-only tests)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('warm') / 'service.db'}")
    service = Service(Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)})
    drive(service, T1330 + 30 * NS, T1330 + 90 * 60 * NS)
    yield service
    store.close()


@pytest.fixture
def fresh(spy: montalaq.Trades, tmp_path: Path) -> Iterator[Service]:
    """A service that replayed 13:30-14:05 (tests that change things); the trend score is
    defined from 14:00:02, when the second 15m bar closes."""
    store = Store(f"sqlite:///{tmp_path / 'service.db'}")
    service = Service(Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)})
    drive(service, T1330 + 30 * NS, T1330 + 35 * 60 * NS)
    yield service
    store.close()


# ------------------------------------------------------------------------------ payloads


def test_health_has_the_spec_shape(warm: Service) -> None:
    h = warm.health()
    assert (h["status"], h["symbols"]) == ("ok", ["SPY"])
    assert h["trades_cached"] == {"SPY": warm.engine.trades_cached("SPY")}
    assert h["trades_cached"]["SPY"] > 0
    assert set(h["agents"]) == {"rvol_spike", "trend_score"}
    assert all(set(a) == {"status", "last_run"} and a["status"] == "ok" for a in h["agents"].values())


def test_signals_have_the_spec_keys_and_finite_values(warm: Service) -> None:
    s = warm.signals("SPY")
    assert set(s) == SIGNALS_KEYS
    assert s["last_price"] == pytest.approx(float(warm.engine.state("SPY")["last_price"]))
    assert all(v is None or (isinstance(v, float | int) and math.isfinite(v)) for v in s.values())
    assert s["mom1_bps"] is not None
    assert s["rvol_vs_recent"] is not None


def test_signals_tf_have_the_spec_keys_finite_or_none(warm: Service) -> None:
    s = warm.signals_tf("SPY")
    assert set(s) == SIGNALS_TF_KEYS
    assert all(v is None or math.isfinite(v) for v in s.values())
    # 90 one-minute bars: every 1m feature is defined; 15m rvol needs 20 bars (5 h), not yet.
    assert all(s[f"{f}_1m"] is not None for f in ("mom_bps", "px_vs_vwap_bps", "rvol", "atr"))
    assert s["rvol_15m"] is None


@pytest.mark.parametrize("method", ["signals", "signals_tf", "debug_state", "debug_features"])
def test_an_unknown_symbol_is_a_value_error_naming_it(warm: Service, method: str) -> None:
    with pytest.raises(ValueError, match="unknown symbol 'QQQ'"):
        getattr(warm, method)("QQQ")


@pytest.mark.parametrize("tf", ["1h", "2m"])
def test_an_unknown_timeframe_is_a_value_error_naming_it(warm: Service, tf: str) -> None:
    with pytest.raises(ValueError, match=f"unknown timeframe '{tf}'"):
        warm.latest_analysis("SPY", tf)


def test_a_malformed_timeframe_is_a_value_error(warm: Service) -> None:
    with pytest.raises(ValueError, match="timeframe"):
        warm.analysis_history("SPY", "5 minutes", 10)


def test_debug_features_show_each_timeframe_and_the_trend(warm: Service) -> None:
    d = warm.debug_features("SPY")
    assert set(d["timeframes"]) == {"1m", "5m", "15m"}
    one = d["timeframes"]["1m"]
    bar = warm.engine.latest("SPY", "1m")
    assert one is not None
    assert bar is not None
    assert one["close"] == bar.close
    assert one["atr"] == pytest.approx(bar.atr)
    assert d["trend"]["posture"] in {"FLAT", "LONG", "SHORT"}
    p_up = d["trend"]["p_up"]
    assert p_up is not None
    assert 0.0 < p_up < 1.0


def test_debug_state_is_the_engine_state_with_the_provider(warm: Service) -> None:
    d = warm.debug_state("SPY")
    assert d["provider"] == "AllTick"
    assert d["trade_counts"]["ACCEPTED"] == warm.stats.trades_ingested


def test_every_timeframe_was_analysed_on_its_closed_bars(warm: Service) -> None:
    for tf, n in (("1m", 88), ("5m", 17), ("15m", 5)):
        history = warm.analysis_history("SPY", tf, 1000)
        assert len(history) >= n, tf
        assert all(a.status is AnalysisStatus.COMPLETE for a in history)
        assert [a.bar_ts for a in history] == sorted((a.bar_ts for a in history), reverse=True)


def test_the_latest_analysis_is_of_the_newest_closed_bar(warm: Service) -> None:
    a = warm.latest_analysis("SPY", "5m")
    bar = warm.engine.latest("SPY", "5m")
    assert a is not None
    assert bar is not None
    assert montalaq._time.to_ns(a.bar_ts) == bar.start_ns
    assert a.rule_confidence_score is not None
    assert 50.0 <= a.rule_confidence_score <= 100.0


def test_scheduled_agents_stored_their_findings(warm: Service) -> None:
    findings = warm.latest_findings("SPY", 500)
    assert {f.agent for f in findings} >= {"trend_score"}
    assert all(f.id is not None for f in findings)


def test_ingestion_status_lists_every_pair_with_its_provider(warm: Service) -> None:
    status = warm.ingestion_status()
    assert [(p["symbol"], p["timeframe"]) for p in status["pairs"]] == [
        ("SPY", "1m"),
        ("SPY", "5m"),
        ("SPY", "15m"),
    ]
    required = {
        "provider",
        "freshness",
        "escalation_level",
        "breaker_open",
        "last_tick",
        "last_error_code",
        "last_signal_bar_ts",
    }
    assert all(required <= set(p) for p in status["pairs"])
    assert {
        (p["provider"], p["freshness"], p["escalation_level"], p["breaker_open"]) for p in status["pairs"]
    } == {("AllTick", "GREEN", "INFO", False)}
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


def test_ingestion_status_rows_are_kept_in_the_store(warm: Service) -> None:
    rows = warm.store.ingestion_status("SPY")
    assert {(r["timeframe"], r["provider"], r["freshness"], r["escalation_level"]) for r in rows} == {
        (tf, "AllTick", "GREEN", "INFO") for tf in ("1m", "5m", "15m")
    }


def test_providers_summary_counts_each_provider(spy: montalaq.Trades, tmp_path: Path) -> None:
    settings = Settings.from_env({**ENV, "SYMBOL": "SPY,QQQ"})
    sim = SimulatedProvider("QQQ", name="TwelveData", seed=7, start_ns=T1330)
    with Store(f"sqlite:///{tmp_path / 'two.db'}") as store:
        service = Service(settings, store=store, providers={"SPY": replay(spy), "QQQ": sim})
        drive(service, T1330 + 30 * NS, T1330 + 3 * 60 * NS)
        summary = service.ingestion_status()["providers_summary"]
    assert summary == {
        "AllTick": {
            "pairs": 3,
            "green": 3,
            "amber": 0,
            "red": 0,
            "closed": 0,
            "unknown": 0,
            "breakers_open": 0,
        },
        "TwelveData": {
            "pairs": 3,
            "green": 3,
            "amber": 0,
            "red": 0,
            "closed": 0,
            "unknown": 0,
            "breakers_open": 0,
        },
    }


# ------------------------------------------------------------------------------ operator actions


def test_run_agents_inserts_its_findings_into_the_store(fresh: Service) -> None:
    found = fresh.run_agents(["trend_score"], "SPY")
    [finding] = found
    assert finding.id is not None
    assert fresh.latest_findings("SPY", 1) == [finding]


def test_run_agents_without_insert_stores_nothing(fresh: Service) -> None:
    before = len(fresh.latest_findings("SPY", 1000))
    assert len(fresh.run_agents(["trend_score"], insert=False)) == 1
    assert len(fresh.latest_findings("SPY", 1000)) == before


def test_run_agents_refuses_an_unknown_agent(fresh: Service) -> None:
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        fresh.run_agents(["nope"])


def test_a_failing_user_agent_shows_in_health_and_spares_the_others(fresh: Service) -> None:
    @fresh.agents.agent("broken")
    def broken(ctx: Any) -> None:
        raise RuntimeError("bad agent")

    found = fresh.run_agents()
    assert {f.agent for f in found} >= {"trend_score"}
    assert fresh.health()["agents"]["broken"]["status"] == "error"


def test_closing_a_closed_breaker_changes_nothing(fresh: Service) -> None:
    out = fresh.close_breaker("SPY", "1m")
    assert (out["closed"], out["breaker_open"], out["event"]) == (False, False, None)


# ------------------------------------------------------------------------------ failures and providers


def test_failing_analyses_escalate_their_pair_with_analysis_err(spy: montalaq.Trades, tmp_path: Path) -> None:
    def broken_model(features: Mapping[str, float | None]) -> float:
        raise RuntimeError("model crashed")

    with Store(f"sqlite:///{tmp_path / 'fail.db'}") as store:
        service = Service(
            Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)}, ml=broken_model
        )
        reports = drive(service, T1330 + 30 * NS, T1330 + 6 * 60 * NS)
        one = next(p for p in service.ingestion_status()["pairs"] if p["timeframe"] == "1m")
    one_m = [e for r in reports for e in r.events if e["timeframe"] == "1m"]
    assert [(e["kind"], e["new"]) for e in one_m] == [
        ("level", "WARN"),
        ("level", "ERROR"),
        ("breaker_open", "OPEN"),
        ("level", "CRITICAL"),
    ]
    assert "fails_5m 2" in one_m[0]["reason"]
    assert "fails_5m 3" in one_m[1]["reason"]
    assert "persistent ERROR" in one_m[2]["reason"]
    assert (one["last_error_code"], one["freshness"]) == ("ANALYSIS_ERR", "GREEN")


@dataclass
class ListFeed:
    """A push provider (async ``trades()`` only) delivering fixed batches, then failing."""

    batches: list[TradeBatch]
    name: str = "TwelveData"
    fail_with: Exception | None = None
    delivered: int = 0
    symbols: list[str] = field(default_factory=lambda: ["SPY"])

    async def trades(self) -> AsyncIterator[TradeBatch]:
        for b in self.batches:
            self.delivered += 1
            yield b
            await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        await asyncio.sleep(3600)


def run_for(service: Service, seconds: float, tick_s: float = 0.05) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop, tick_s=tick_s))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_the_scheduler_replays_the_sample_accelerated(spy: montalaq.Trades, tmp_path: Path) -> None:
    feed = ReplayProvider(spy, name="AllTick", start_offset_s=SESSION_OFFSET_S, start_ns=T1330, speed=600)
    with Store(f"sqlite:///{tmp_path / 'run.db'}") as store:
        service = Service(
            Settings.from_env({**ENV, "ESCALATION_EVAL_INTERVAL_SEC": "60"}),
            store=store,
            providers={"SPY": feed},
            clock=feed.clock,
        )
        run_for(service, 1.5)  # 15 virtual minutes at 10 minutes a second
        assert not service.running
        assert service.stats.cycles >= 5
        assert service.engine.last_trades()[1][0] >= T1330 + 10 * 60 * NS
        # A slow machine runs fewer cycles and analyses only the newest bar of each: >= 1.
        assert len(service.analysis_history("SPY", "5m", 100)) >= 1
        assert service.stats.analyses_complete + service.stats.analyses_superseded >= 10
        assert service.health()["agents"]["trend_score"]["last_run"] is not None


def test_the_scheduler_consumes_a_push_provider(spy: montalaq.Trades, tmp_path: Path) -> None:
    keep = (spy.ts_ns >= T1330) & (spy.ts_ns < T1330 + 60 * NS)
    batch = TradeBatch("SPY", spy.ts_ns[keep], spy.price[keep], spy.size[keep])
    feed = ListFeed([batch])
    with Store(f"sqlite:///{tmp_path / 'push.db'}") as store:
        # The clock passes the bar's end (+2 s grace) only once the batch is in: a push feed
        # older than that would be LATE.
        service = Service(
            Settings.from_env(ENV),
            store=store,
            providers={"SPY": feed},
            clock=lambda: T1330 + (63 if service.stats.trades_ingested else 30) * NS,
        )
        run_for(service, 0.5)
        assert service.stats.trades_ingested == int(keep.sum())
        assert service.ingestion_status()["pairs"][0]["provider"] == "TwelveData"
        assert (
            len(service.analysis_history("SPY", "1m", 10)) == 1
        )  # the 13:30 bar, closed by the clock (2 s grace)


def test_a_failing_provider_is_recorded_and_retried_without_stopping_the_scheduler(tmp_path: Path) -> None:
    feed = ListFeed([], fail_with=ConnectionError("socket closed"))
    with Store(f"sqlite:///{tmp_path / 'down.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={"SPY": feed}, clock=lambda: T1330)
        run_for(service, 1.7)
        assert service.stats.provider_errors >= 2  # failed, waited 1 s, reconnected, failed again
        assert service.stats.cycles >= 5
        assert {p["last_error_code"] for p in service.ingestion_status()["pairs"]} == {
            "PROVIDER_DISCONNECTED"
        }


class BrokenPull:
    """A pull provider whose connection is gone."""

    name = "AllTick"
    symbols = ("SPY",)

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        raise ConnectionError("connection reset by peer")

    def trades(self) -> Iterator[TradeBatch]:
        return iter(())


def test_a_failing_pull_provider_is_recorded_and_the_cycle_goes_on(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'pull.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={"SPY": BrokenPull()})
        report = service.step(T1330)
        assert report.evaluated
        assert service.stats.provider_errors == 1
        # RED (never traded), but the provider's error of the same cycle says more
        assert [p["freshness"] for p in service.ingestion_status()["pairs"]] == ["RED"] * 3
        assert service.last_error_code("SPY", "5m") == "PROVIDER_DISCONNECTED"


def test_step_takes_now_in_any_form_and_the_old_now_ns_keyword_warns(tmp_path: Path) -> None:
    """docs/semantics.md, "Time values in Python"."""
    with Store(f"sqlite:///{tmp_path / 'now.db'}") as store:
        service = Service(
            Settings.from_env(ENV), store=store, providers={"SPY": BrokenPull()}, clock=lambda: T1330
        )
        assert service.step(datetime(2013, 10, 7, 13, 30, tzinfo=UTC)).now_ns == T1330
        assert service.step(now=np.datetime64(T1330 + 30 * NS, "ns")).now_ns == T1330 + 30 * NS
        assert service.step().now_ns == T1330  # None: the service's clock
        with pytest.warns(DeprecationWarning, match="now_ns is deprecated, pass now=") as record:
            assert service.step(now_ns=T1330 + 60 * NS).now_ns == T1330 + 60 * NS
        assert [w.filename for w in record] == [__file__]

        def at(metrics: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in metrics.items() if k != "heartbeat"}  # uptime: a perf counter

        metrics = at(service.cycle_metrics(datetime(2013, 10, 7, 13, 31, tzinfo=UTC)))
        with pytest.warns(DeprecationWarning, match="now_ns is deprecated"):
            assert at(service.cycle_metrics(now_ns=T1330 + 60 * NS)) == metrics
        for bad, error, match in [
            (T1330 / 1e9, TypeError, "^now: .*got float"),
            (datetime(2013, 10, 7, 13, 30), ValueError, "^now: naive"),
            (0, ValueError, "^now: expected a time after 1970"),
        ]:
            with pytest.raises(error, match=match):
                service.step(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="pass now= or now_ns=, not both"):
            service.step(T1330, now_ns=T1330)
        assert service.stats.cycles == 4  # refused calls ran no cycle


def test_a_provider_error_goes_to_the_notifier_error_throttle(tmp_path: Path) -> None:
    settings = Settings.from_env({**ENV, "NOTIFY_DRY_RUN": "true"})
    feed = ListFeed([], fail_with=TimeoutError("no data for 30 s"))
    with Store(f"sqlite:///{tmp_path / 'throttle.db'}") as store:
        notifier = notifier_from_settings(settings, store)
        service = Service(
            settings, store=store, notifier=notifier, providers={"SPY": feed}, clock=lambda: T1330
        )
        run_for(service, 0.3)
        [summary] = store.error_summary()
    assert (summary["error_type"], summary["occurrence_count"], summary["is_resolved"]) == (
        "INGESTION_TIMEOUT",
        1,
        False,
    )


# ------------------------------------------------------------------------------ end to end: a gap


@dataclass
class GapRun:
    service: Service
    reports: list[StepReport]
    status_in_hole: IngestionStatus
    logs: list[logging.LogRecord]


def gap_run(spy: montalaq.Trades, db: Path, until: int) -> GapRun:
    """The session with a 7-minute hole cut out of it, stepped every 30 s with escalation
    every 30 s, notifications in dry-run through a webhook channel."""
    settings = Settings.from_env(
        {
            **ENV,
            "NOTIFY_DRY_RUN": "true",
            "NOTIFY_WEBHOOK_ENABLED": "true",
            "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        }
    )
    store = Store(f"sqlite:///{db}")
    notifier = notifier_from_settings(settings, store)
    feed = replay(with_hole(spy, HOLE_START, HOLE_END))
    service = Service(settings, store=store, notifier=notifier, providers={"SPY": feed})
    with LogRecords("montalaq.notify") as logs:
        reports = drive(service, T1330 + 30 * NS, HOLE_END - 30 * NS)
        status = service.ingestion_status()
        reports += drive(service, HOLE_END, until)
    return GapRun(service, reports, status, logs.records)


@pytest.fixture(scope="module")
def gap(spy: montalaq.Trades, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GapRun]:
    run = gap_run(spy, tmp_path_factory.mktemp("gap") / "gap.db", HOLE_END + 10 * 60 * NS)
    yield run
    run.service.store.close()


def events(run: GapRun) -> list[tuple[str, str, str, str]]:
    return [(e["timeframe"], e["kind"], e["old"], e["new"]) for r in run.reports for e in r.events]


def test_a_gap_escalates_only_the_1m_pair_warn_error_critical(gap: GapRun) -> None:
    assert events(gap) == [
        ("1m", "level", "INFO", "WARN"),
        ("1m", "level", "WARN", "ERROR"),
        ("1m", "breaker_open", "CLOSED", "OPEN"),
        ("1m", "level", "ERROR", "CRITICAL"),
    ]


def test_the_gap_goes_amber_before_red(gap: GapRun) -> None:
    reasons = [e["reason"] for r in gap.reports for e in r.events if e["kind"] == "level"]
    assert "colour AMBER" in reasons[0]
    assert "colour RED" in reasons[1]


def test_the_gap_shows_in_ingestion_status(gap: GapRun) -> None:
    by_tf = {p["timeframe"]: p for p in gap.status_in_hole["pairs"]}
    assert (by_tf["1m"]["freshness"], by_tf["1m"]["escalation_level"], by_tf["1m"]["breaker_open"]) == (
        "RED",
        "CRITICAL",
        True,
    )
    assert by_tf["1m"]["last_error_code"] == "FRESHNESS_THRESHOLD_EXCEEDED"
    assert by_tf["1m"]["last_tick"] is not None
    assert montalaq._time.to_ns(by_tf["1m"]["last_tick"]) < HOLE_START
    for tf in ("5m", "15m"):
        assert (by_tf[tf]["freshness"], by_tf[tf]["escalation_level"], by_tf[tf]["breaker_open"]) == (
            "GREEN",
            "INFO",
            False,
        )
    assert gap.status_in_hole["providers_summary"] == {
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


def test_the_gap_is_written_to_the_ingestion_status_table(gap: GapRun) -> None:
    rows = {r["timeframe"]: r for r in gap.service.store.ingestion_status("SPY")}
    assert (rows["1m"]["escalation_level"], rows["1m"]["breaker_open"], rows["1m"]["provider"]) == (
        "CRITICAL",
        True,
        "AllTick",
    )
    assert not rows["5m"]["breaker_open"]
    assert not rows["15m"]["breaker_open"]


def test_the_gap_is_notified_in_dry_run(gap: GapRun) -> None:
    rows = [r for r in gap.service.store.outbox.rows() if r.kind in ("escalation", "breaker")]
    assert {r.status for r in rows} == {"DRY_RUN"}
    assert [r.payload["title"] for r in rows] == [
        "SPY 1m: escalation INFO -> WARN",
        "SPY 1m: escalation WARN -> ERROR",
        "SPY 1m: breaker opened",
        "SPY 1m: escalation ERROR -> CRITICAL",
    ]
    assert [r.error_code for r in rows] == ["FRESHNESS_THRESHOLD_EXCEEDED"] * 4
    assert [r.severity for r in rows] == ["WARNING", "CRITICAL", "CRITICAL", "CRITICAL"]


def test_the_dry_run_logs_each_notification(gap: GapRun) -> None:
    lines = [r.getMessage() for r in gap.logs if "dry run: would send" in r.getMessage()]
    assert sum("breaker opened" in m for m in lines) == 1
    assert sum("escalation ERROR -> CRITICAL" in m for m in lines) == 1


def test_analyses_skip_only_the_pair_whose_breaker_is_open(gap: GapRun) -> None:
    skipped = {pair for r in gap.reports for pair in r.skipped_breaker}
    assert skipped == {("SPY", "1m")}
    after = [r for r in gap.reports if r.now_ns >= HOLE_END]
    assert any(a.timeframe == "5m" for r in after for a in r.analyses)
    assert not any(a.timeframe == "1m" for r in after for a in r.analyses)


def test_operator_close_reopens_analyses_and_is_notified(spy: montalaq.Trades, tmp_path: Path) -> None:
    run = gap_run(spy, tmp_path / "close.db", HOLE_END + 2 * 60 * NS)
    service = run.service
    try:
        out = service.close_breaker("SPY", "1m")
        assert out["event"] is not None
        assert (out["closed"], out["breaker_open"], out["event"]["kind"]) == (True, False, "breaker_close")
        assert service.ingestion_status()["pairs"][0]["breaker_open"] is False
        assert service.store.outbox.rows()[-1].payload["title"] == "SPY 1m: breaker closed"
        later = drive(service, HOLE_END + 150 * NS, HOLE_END + 4 * 60 * NS)
        assert any(a.timeframe == "1m" for r in later for a in r.analyses)
    finally:
        service.store.close()


def test_only_the_stale_symbol_escalates(spy: montalaq.Trades, tmp_path: Path) -> None:
    settings = Settings.from_env({**ENV, "SYMBOL": "SPY,SIM"})
    sim = SimulatedProvider("SIM", name="TwelveData", seed=3, start_ns=T1330, rate_per_s=2.0)
    with Store(f"sqlite:///{tmp_path / 'iso.db'}") as store:
        service = Service(
            settings, store=store, providers={"SPY": replay(with_hole(spy, HOLE_START, HOLE_END)), "SIM": sim}
        )
        reports = drive(service, T1330 + 30 * NS, HOLE_END - 30 * NS)
        pairs = service.ingestion_status()["pairs"]
    assert {e["symbol"] for r in reports for e in r.events} == {"SPY"}
    assert [(p["symbol"], p["timeframe"]) for p in pairs if p["breaker_open"]] == [("SPY", "1m")]
    assert np.all([p["escalation_level"] == "INFO" for p in pairs if p["symbol"] == "SIM"])


def test_a_provider_must_serve_a_configured_symbol(tmp_path: Path) -> None:
    with (
        Store(f"sqlite:///{tmp_path / 'bad.db'}") as store,
        pytest.raises(ValueError, match="unknown symbols \\['QQQ'\\]"),
    ):
        Service(Settings.from_env(ENV), store=store, providers={"QQQ": SimulatedProvider("QQQ")})


def test_a_provider_is_checked_for_the_protocol(tmp_path: Path) -> None:
    bogus: Any = object()
    with (
        Store(f"sqlite:///{tmp_path / 'bad.db'}") as store,
        pytest.raises(TypeError, match="providers\\['SPY'\\]"),
    ):
        Service(Settings.from_env(ENV), store=store, providers={"SPY": bogus})


def test_default_providers_replay_the_bundled_sample(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'default.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store)
        p: Provider = service.providers["SPY"]
    assert isinstance(p, ReplayProvider)
    assert p.loop
    assert len(p) > 100_000
