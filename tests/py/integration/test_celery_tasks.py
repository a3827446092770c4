"""montalaq's Celery tasks driven in this process, one step at a time, on a real Redis and a
real PostgreSQL (a fresh database per test): the tick, the analysis claims, the shared
board, operator closes, KPIs, delivery and the shared guards. The feed clock is pinned (the
test moves virtual time by minutes), so every tick closes a known number of bars.

Real worker processes and the beat are in ``test_celery_workers.py``."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from celery import Celery  # type: ignore[import-untyped]
from celery_support import wait_until
from pydantic import SecretStr
from store_fixtures import (
    TcpProxy,
    create_pg_database,
    drop_pg_database,
    fixture_pg_migrated_template,
    pg_database_url,
)

import montalaq
import montalaq.celery as mc
from montalaq._time import datetime_utc
from montalaq.celery import escalation, kpi, tasks
from montalaq.celery.board import decode_board
from montalaq.celery.guards import SharedCircuitBreaker, SharedErrorThrottle
from montalaq.celery.runtime import Runtime
from montalaq.celery.state import FeedRecord
from montalaq.feeds import TradeBatch
from montalaq.health import BreakerState, OpState
from montalaq.notify import signal_key
from montalaq.settings import Settings
from montalaq.shapes import AnalyseResult, TickReport
from montalaq.store import Store
from montalaq.throttle import ThrottleDecision
from montalaq.watchlist import Watchlist, WatchlistEntry, WatchlistError, parse_watchlist
from receivers import HttpReceiver

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

_ = fixture_pg_migrated_template  # the session template the databases are copied from

NS = 1_000_000_000
MIN = 60 * NS
THRESHOLD = 55.0
WATCHLIST = """\
feed: {warmup_s: 1800}
pairs:
  - {symbol: SPY, provider: AllTick, timeframes: [1m, 5m], source: {kind: sample, name: spy}}
  - {symbol: SIM, provider: TwelveData, timeframes: [1m],
     source: {kind: simulated, seed: 11, start_price: 100}}
  - {symbol: BROKEN, provider: TwelveData, timeframes: [1m],
     source: {kind: simulated, seed: 12, start_price: 5}}
"""


def failing_model(features: Mapping[str, float | None]) -> float | None:
    """No opinion, except that it cannot score anything below 10 (BROKEN's price range)."""
    close = features.get("close")
    if close is not None and close < 10:
        raise RuntimeError("model cannot score an instrument below 10")
    return None


@dataclass
class Deployment:
    """An installed app, its handle, and the analysis requests its ticks queued."""

    handle: mc.MontalaqCelery
    watchlist: Watchlist
    start_ns: int
    db_name: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    extra: list[mc.MontalaqCelery] = field(default_factory=list)

    @property
    def rt(self) -> Runtime:
        return self.handle.runtime()

    def worker(self) -> Runtime:
        """Another process's runtime (empty caches), on the same shared state."""
        h = mc.install(
            Celery("other"),
            self.handle.settings,
            watchlist=self.watchlist,
            options=self.handle.options,
            ml=self.handle.plugins.ml,
            provider_factory=self.handle.plugins.provider_factory,
            agents=None,
        )
        self.extra.append(h)
        return h.runtime()

    def tick(self, rt: Runtime | None = None) -> TickReport:
        return tasks.tick(rt or self.rt, self.requests.append)

    def jump(self, seconds: float) -> None:
        """Move the feed's virtual time forward (every runtime sees it)."""
        record = self.rt.state.feed()
        assert record is not None
        moved = replace(record, anchor_virtual_ns=record.anchor_virtual_ns + round(seconds * NS))
        self.rt.state.save_feed(moved)
        for h in [self.handle, *self.extra]:
            h.runtime().set_clock(moved)

    def take(self) -> list[dict[str, Any]]:
        out, self.requests[:] = list(self.requests), []
        return out

    def analyse_all(self, rt: Runtime | None = None) -> list[AnalyseResult]:
        """Run every queued request once, in order (as one worker would)."""
        return [tasks.analyse(rt or self.rt, r, uuid.uuid4().hex) for r in self.take()]

    def cycle(self, minutes: int = 1) -> list[AnalyseResult]:
        """Move time, tick, analyse what was queued, evaluate the board."""
        self.jump(minutes * 60)
        self.tick()
        out = self.analyse_all()
        escalation.evaluate(self.rt)
        return out


Factory = Callable[..., Deployment]


@pytest.fixture
def deploy(
    pg_migrated_template: str, redis_target: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> Iterator[Factory]:
    """``deploy(**env)``: montalaq installed on a Celery app over a fresh database, the
    test's Redis prefix and a webhook receiver, with the feed started at a minute boundary
    and pinned (virtual time moves only when the test says)."""
    made: list[Deployment] = []
    names: list[str] = []

    def make(
        watchlist: str = WATCHLIST,
        *,
        ml: Any = failing_model,
        provider_factory: Any = None,
        agents: Any = None,
        lock_timeout_s: float = 30.0,
        **env: str,
    ) -> Deployment:
        name = create_pg_database(template=pg_migrated_template)
        names.append(name)
        settings = Settings.from_env(
            {
                "DATABASE_URL": pg_database_url(name),
                "REDIS_URL": redis_target.url,
                "NOTIFY_WEBHOOK_ENABLED": "true",
                "NOTIFY_WEBHOOK_URL": http_receiver.url + "/hook",
                "NOTIFY_RATE_LIMIT_PER_MIN": "100000",
                "ANALYSIS_NOTIFY_THRESHOLD": str(THRESHOLD),
                "ANALYSIS_NOTIFY_DEDUPE_SEC": "86400",
                # The escalation's monitoring writes here (not the working directory).
                "ALERTS_DIR": str(tmp_path / "alerts"),
                "METRICS_DIR": str(tmp_path / "monitoring"),
                **env,
            }
        )
        wl = parse_watchlist(watchlist)
        handle = mc.install(
            Celery("test"),
            settings,
            watchlist=wl,
            options=mc.CeleryOptions(prefix=redis_target.prefix, lock_timeout_s=lock_timeout_s),
            ml=ml,
            provider_factory=provider_factory,
            agents=agents,
        )
        start = (time.time_ns() // (5 * MIN)) * 5 * MIN  # a 5-minute boundary
        record = FeedRecord(
            origin_ns=start - round(wl.warmup_s * NS),
            first_bar_ns=start,
            anchor_wall_ns=time.time_ns(),
            anchor_virtual_ns=start + NS,  # one second into the first bar
            speed=1e-9,  # pinned: the wall clock barely moves it
            cursor_ns=start,
            digest=wl.digest,
        )
        handle.runtime().state.save_feed(record)
        d = Deployment(handle, wl, start, name)
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            for h in [d.handle, *d.extra]:
                h.close()
        for name in names:
            drop_pg_database(name)


def _rows(store: Store, symbol: str, timeframe: str) -> list[Any]:
    return store.analysis_history(symbol, timeframe, limit=1000)


def _outbox(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from montalaq.store import schema

    t = schema.notification_outbox
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]
    return [r for r in rows if kind is None or r["kind"] == kind]


# ------------------------------------------------------------------------------ install


def test_install_registers_every_task_acked_late_and_rejected_on_worker_loss(deploy: Factory) -> None:
    d = deploy()
    app = d.handle.app
    for name in mc.TASK_NAMES:
        task = app.tasks[f"montalaq.{name}"]
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
    # The host's own settings are its own: Celery's default prefetch (4) stays.
    assert app.conf.worker_prefetch_multiplier == 4


def test_install_sets_the_prefetch_only_when_asked_and_says_why_otherwise(
    redis_target: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "REDIS_URL": redis_target.url}
    )
    options = mc.CeleryOptions(prefix=redis_target.prefix)
    host = Celery("host")
    host.conf.worker_prefetch_multiplier = 8
    with caplog.at_level("INFO", logger="montalaq.celery"):
        mc.install(host, settings, watchlist=parse_watchlist(WATCHLIST), options=options, agents=None)
    assert host.conf.worker_prefetch_multiplier == 8
    assert any("worker_prefetch_multiplier is 8" in r.getMessage() for r in caplog.records)
    asked = Celery("asked")
    mc.install(
        asked,
        settings,
        watchlist=parse_watchlist(WATCHLIST),
        options=options,
        agents=None,
        configure_app=True,
    )
    assert asked.conf.worker_prefetch_multiplier == 1


def test_beat_schedule_runs_each_periodic_task_at_its_settings_interval(deploy: Factory) -> None:
    d = deploy(
        KPI_ROLLUP_INTERVAL_SEC="30", ESCALATION_EVAL_INTERVAL_SEC="15", CIRCUIT_BREAKER_INTERVAL_SEC="45"
    )
    schedule = d.handle.app.conf.beat_schedule
    periods = {name: entry["schedule"] for name, entry in schedule.items()}
    assert periods == {
        "montalaq.tick": 5.0,
        "montalaq.escalation": 15.0,
        "montalaq.breakers": 45.0,
        "montalaq.kpi_rollup": 30.0,
        "montalaq.deliver": 2.0,
    }
    assert all(schedule[n]["task"] == n for n in schedule)
    assert schedule["montalaq.escalation"]["options"]["expires"] == 15.0


def test_install_keeps_the_apps_own_beat_entries(deploy: Factory) -> None:
    app = Celery("own")
    app.conf.beat_schedule = {"mine": {"task": "proj.mine", "schedule": 10.0}}
    d = deploy()
    mc.install(app, d.handle.settings, watchlist=d.watchlist, agents=None)
    assert "mine" in app.conf.beat_schedule
    assert "montalaq.tick" in app.conf.beat_schedule


def test_install_without_redis_names_REDIS_URL() -> None:
    app = Celery("x", broker="memory://")
    wl = parse_watchlist(WATCHLIST)
    with pytest.raises(ValueError, match=r"REDIS_URL: required by montalaq\.celery"):
        mc.install(app, Settings.from_env({}), watchlist=wl)


def test_install_without_a_watchlist_names_WATCHLIST_PATH() -> None:
    app = Celery("x", broker="redis://127.0.0.1:6379/15")
    with pytest.raises(WatchlistError, match="WATCHLIST_PATH: required"):
        mc.install(app, Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/15"}))


def test_install_rejects_arguments_of_the_wrong_type() -> None:
    app = Celery("x", broker="redis://127.0.0.1:6379/15")
    wl = parse_watchlist(WATCHLIST)
    with pytest.raises(TypeError, match=r"settings: expected montalaq\.settings\.Settings"):
        mc.install(app, {"REDIS_URL": "redis://"}, watchlist=wl)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"app: expected a celery\.Celery application"):
        mc.install(object(), Settings.from_env({}), watchlist=wl)
    with pytest.raises(TypeError, match="ml: expected a callable"):
        mc.install(app, Settings.from_env({}), watchlist=wl, ml=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tick_interval_s: expected a finite number of seconds > 0"):
        mc.CeleryOptions(tick_interval_s=0)
    with pytest.raises(ValueError, match="prefix: expected a non-empty string"):
        mc.CeleryOptions(prefix="")


def test_install_reads_the_watchlist_from_WATCHLIST_PATH(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST)
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/15", "WATCHLIST_PATH": str(path)})
    handle = mc.install(Celery("x"), settings, agents=None)
    assert handle.watchlist.pairs() == [("SPY", "1m"), ("SPY", "5m"), ("SIM", "1m"), ("BROKEN", "1m")]


# ------------------------------------------------------------------------------ the tick


def test_each_tick_queues_one_analysis_per_closed_bar_of_each_pair(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    assert d.take() == []  # one second into the first bar: nothing closed yet
    for minute in range(1, 6):
        d.jump(60)
        report = d.tick()
        queued = {(r["symbol"], r["timeframe"], r["start_ns"]) for r in d.take()}
        want = {(s, "1m", d.start_ns + (minute - 1) * MIN) for s in ("SPY", "SIM", "BROKEN")}
        if minute == 5:
            want.add(("SPY", "5m", d.start_ns))
        assert queued == want, minute
        assert report["queued"] == len(want)
        assert report["rebuilt"] is False


def test_a_late_tick_queues_every_bar_it_missed_with_the_features_it_closed_with(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(4 * 60)
    d.tick()
    spy = [r for r in d.take() if (r["symbol"], r["timeframe"]) == ("SPY", "1m")]
    assert [r["start_ns"] for r in spy] == [d.start_ns + i * MIN for i in range(4)]
    # Each bar keeps the features of the moment it closed, and points at the bar before.
    assert len({json.dumps(r["features"], sort_keys=True) for r in spy}) == 4
    assert [r["prev_start_ns"] for r in spy[1:]] == [r["start_ns"] for r in spy[:-1]]
    ctx = d.rt.feed_context
    assert ctx is not None
    bars = ctx.engine.bars("SPY", "1m")
    close = dict(zip(np.asarray(bars.start_ns).tolist(), np.asarray(bars.close).tolist(), strict=True))
    assert [r["close"] for r in spy] == [close[r["start_ns"]] for r in spy]


def test_another_process_takes_over_the_tick_without_queueing_a_bar_twice(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(120)
    d.tick()
    first = d.take()
    other = d.worker()
    d.jump(60)
    report = d.tick(other)
    second = d.take()
    assert report["rebuilt"] is True  # a process without the feed rebuilds it from the origin
    assert {r["start_ns"] for r in first if r["timeframe"] == "1m"} == {d.start_ns, d.start_ns + MIN}
    assert {r["start_ns"] for r in second if r["timeframe"] == "1m"} == {d.start_ns + 2 * MIN}
    # Both processes' engines agree on the features of the bar they both closed.
    d.jump(60)
    assert d.tick()["rebuilt"] is False  # the first process catches up from where it stopped
    assert {r["start_ns"] for r in d.take() if r["timeframe"] == "1m"} == {d.start_ns + 3 * MIN}


def test_a_tick_that_dies_after_queueing_loses_no_bar_and_runs_none_twice(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(60)
    sent: list[dict[str, Any]] = []

    def dies_after_one(request: dict[str, Any]) -> None:
        sent.append(request)
        raise ConnectionError("the worker died while queueing")

    with pytest.raises(ConnectionError):
        tasks.tick(d.rt, dies_after_one)
    d.tick(d.worker())  # another worker's tick finds the cursor where it was
    again = d.take()
    assert {(r["symbol"], r["start_ns"]) for r in again} == {
        (s, d.start_ns) for s in ("SPY", "SIM", "BROKEN")
    }
    done = [tasks.analyse(d.rt, r, uuid.uuid4().hex)["status"] for r in [*sent, *again]]
    assert done.count("done") == 1  # the request sent before the crash ran; its twin did not
    assert len(_rows(d.rt.store, sent[0]["symbol"], "1m")) == 1


class _StoppingFeed:
    """A pull provider with a trade every 10 s that stops 5 minutes after the first
    analysed bar (a feed that went silent)."""

    def __init__(self, entry: WatchlistEntry, origin_ns: int) -> None:
        self.name = entry.provider
        self.symbol = entry.symbol
        self._next = origin_ns
        self._stop = origin_ns + (600 + 300) * NS - 1  # warm-up 600 s, then 5 minutes

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def trades(self) -> Iterator[TradeBatch]:
        return iter(())

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        ts = np.arange(self._next, min(until_ns, self._stop) + 1, 10 * NS, dtype=np.int64)
        if not ts.size:
            return []
        self._next = int(ts[-1]) + 10 * NS
        n = ts.size
        return [TradeBatch(self.symbol, ts, np.full(n, 100.0), np.full(n, 1.0))]


def test_a_pair_whose_feed_went_silent_gets_its_status_updated_and_no_analysis(deploy: Factory) -> None:
    d = deploy(
        "feed: {warmup_s: 600}\npairs:\n  - {symbol: QUIET, provider: TwelveData, timeframes: [1m],"
        " source: custom}\n",
        provider_factory=_StoppingFeed,
    )
    d.tick()
    d.jump(4 * 60)
    assert d.tick()["not_green"] == []
    assert len(d.take()) == 4
    [row] = d.rt.store.ingestion_status("QUIET")
    assert (row["provider"], row["freshness"]) == ("TwelveData", "GREEN")
    d.jump(5 * 60)  # the feed stopped at minute 5: its last trade is 4 minutes old
    report = d.tick()
    assert report["not_green"] == ["QUIET|1m"]
    assert {r["start_ns"] for r in d.take()} == {d.start_ns + 4 * MIN}  # the last bar it had
    [row] = d.rt.store.ingestion_status("QUIET")
    assert row["freshness"] == "RED"
    assert d.tick()["queued"] == 0


class _SlowFeed(_StoppingFeed):
    """``_StoppingFeed`` whose every call takes ``delay_s`` (a slow REST provider)."""

    delay_s = 0.0

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        time.sleep(type(self).delay_s)
        return super().take_until(until_ns)


SLOW_WATCHLIST = (
    "feed: {warmup_s: 600}\npairs:\n  - {symbol: SLOW, provider: TwelveData, timeframes: [1m],"
    " source: custom}\n"
)


def test_a_long_tick_keeps_its_lock_and_one_that_lost_it_stops(
    deploy: Factory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deploy(SLOW_WATCHLIST, provider_factory=_SlowFeed, lock_timeout_s=0.5)
    d.tick()
    # Four bars to catch up, 0.3 s per provider call: 1.2 s in all, over the 0.5 s lock.
    monkeypatch.setattr(_SlowFeed, "delay_s", 0.3)
    d.jump(4 * 60)
    with caplog.at_level("WARNING", logger="montalaq.celery"):
        report = d.tick()
    assert (report["ticked"], report["queued"]) == (True, 4)
    assert "lock expired" not in caplog.text
    # One call slower than the lock: the tick stops at its next step, feed not advanced.
    monkeypatch.setattr(_SlowFeed, "delay_s", 0.7)
    feed = d.rt.state.feed()
    assert feed is not None
    cursor = feed.cursor_ns
    d.jump(60)
    with caplog.at_level("WARNING", logger="montalaq.celery"):
        report = d.tick()
    assert report["ticked"] is False
    assert report["reason"] == "the tick lock expired mid-tick"
    feed = d.rt.state.feed()
    assert feed is not None
    assert feed.cursor_ns == cursor
    assert d.handle.counters()["tick_lock_lost"] == 1


class _DeadFeed:
    """A pull provider whose connection is gone."""

    def __init__(self, entry: WatchlistEntry, origin_ns: int) -> None:
        self.name = entry.provider
        self.symbol = entry.symbol

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def trades(self) -> Iterator[TradeBatch]:
        return iter(())

    def take_until(self, until_ns: int) -> list[TradeBatch]:
        raise ConnectionError("feed socket closed")


def _dead_for_custom(entry: WatchlistEntry, origin_ns: int) -> Any:
    return _DeadFeed(entry, origin_ns) if entry.source.kind == "custom" else None


def test_a_failing_provider_is_its_pairs_error_and_the_others_go_on(deploy: Factory) -> None:
    d = deploy(
        "feed: {warmup_s: 1800}\npairs:\n"
        "  - {symbol: SPY, provider: AllTick, timeframes: [1m], source: sample}\n"
        "  - {symbol: DOWN, provider: TwelveData, timeframes: [1m], source: custom}\n",
        provider_factory=_dead_for_custom,
    )
    d.tick()
    d.jump(60)
    d.tick()
    assert [r["symbol"] for r in d.take()] == ["SPY"]
    errors = d.rt.state.last_errors()
    assert errors[("DOWN", "1m")][1] == "PROVIDER_DISCONNECTED"
    assert ("SPY", "1m") not in errors
    assert d.handle.counters()["provider_errors"] == 2  # once per tick, not once per step
    escalation.evaluate(d.rt)
    rows = {r["symbol"]: r for r in d.rt.store.ingestion_status()}
    assert (rows["DOWN"]["freshness"], rows["DOWN"]["last_error_code"]) == ("RED", "PROVIDER_DISCONNECTED")
    assert (rows["SPY"]["freshness"], rows["SPY"]["last_error_code"]) == ("GREEN", None)
    [summary] = d.rt.store.error_summary()  # one report per tick to the shared error throttle
    assert (summary["error_type"], summary["occurrence_count"]) == ("PROVIDER_DISCONNECTED", 2)


# ------------------------------------------------------------------------------ analyses


def test_an_analysis_runs_once_per_bar_however_often_it_is_delivered(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(60)
    d.tick()
    [req] = [r for r in d.take() if r["symbol"] == "SPY"]
    outcomes = [tasks.analyse(d.rt, req, uuid.uuid4().hex)["status"] for _ in range(3)]
    assert outcomes == ["COMPLETE", "done", "done"]
    assert len(_rows(d.rt.store, "SPY", "1m")) == 1
    assert d.handle.counters()["analyses_duplicate"] == 2


def test_analyses_of_a_pair_wait_for_the_pairs_previous_bar(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(120)
    d.tick()
    first, second = [r for r in d.take() if (r["symbol"], r["timeframe"]) == ("SIM", "1m")]
    assert tasks.analyse(d.rt, second, "t-2")["status"] == "wait"
    assert tasks.analyse(d.rt, first, "t-1")["status"] == "COMPLETE"
    assert tasks.analyse(d.rt, second, "t-2")["status"] == "COMPLETE"


def test_an_analysis_stops_waiting_for_its_predecessor_after_order_wait_s(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(120)
    d.tick()
    _, second = [r for r in d.take() if (r["symbol"], r["timeframe"]) == ("SIM", "1m")]
    second["queued_wall_ns"] -= round(d.handle.options.order_wait_s * NS) + NS
    assert tasks.analyse(d.rt, second, "t-2")["status"] == "COMPLETE"


def _qualifying(d: Deployment) -> dict[str, Any]:
    """Tick minutes until a SPY 1m request whose analysis qualifies; returns it (analysed
    once already by no one)."""
    d.tick()
    for _ in range(20):
        d.jump(60)
        d.tick()
        for r in d.take():
            if (r["symbol"], r["timeframe"]) != ("SPY", "1m"):
                continue
            probe = d.rt.analysis_runner().analyzer(r["features"])
            if probe.confidence is not None and probe.confidence >= THRESHOLD:
                return r
            tasks.analyse(d.rt, r, uuid.uuid4().hex)  # keep the pair's order
    raise AssertionError("no qualifying SPY bar in 20 minutes")


def test_a_redelivered_analysis_runs_again_and_queues_its_signal_once(deploy: Factory) -> None:
    d = deploy()
    req = _qualifying(d)
    first = tasks.analyse(d.rt, req, "task-A")
    assert first["signal"] == "NOTIFIED"
    # The broker delivers task-A again (its worker was thought dead): same task id.
    d.rt.state.client.set(d.rt.state.key("bar", f"SPY|1m|{req['start_ns']}"), "r:task-A", px=60_000)
    again = tasks.analyse(d.rt, req, "task-A")
    assert (again["status"], again["redelivered"]) == ("COMPLETE", True)
    assert len(_outbox(d.rt.store, "signal")) == 1
    assert [r.bar_ts for r in _rows(d.rt.store, "SPY", "1m")].count(datetime_utc(req["start_ns"])) == 1
    assert d.handle.counters()["analyses_redelivered"] == 1


def test_a_worker_dying_between_the_signal_claim_and_the_outbox_loses_no_notification(
    deploy: Factory,
) -> None:
    d = deploy()
    req = _qualifying(d)
    store = d.rt.store
    # The dead attempt: it claimed the bar in the database (and Redis), then died before
    # writing the outbox row.
    claimed_at = d.rt.now_ns()
    bar_ts = datetime_utc(req["start_ns"])
    assert store.claim_signal_bar("SPY", "1m", bar_ts, now=datetime_utc(claimed_at), window_s=86400)
    d.rt.state.client.set(d.rt.state.key("bar", f"SPY|1m|{req['start_ns']}"), "r:task-B", px=60_000)
    assert _outbox(store, "signal") == []
    out = tasks.analyse(d.rt, req, "task-B")  # the redelivery
    assert (out["redelivered"], out["signal"]) == (True, "NOTIFIED")
    [row] = _outbox(store, "signal")
    key = signal_key("SPY", "1m", bar_ts)
    window = int((claimed_at // 1000 * 1000) / NS // 86400)
    assert row["idempotency_key"] == f"signal-{key[:40]}-{window}"
    # Redelivered once more: the same key, so still one row.
    d.rt.state.client.set(d.rt.state.key("bar", f"SPY|1m|{req['start_ns']}"), "r:task-B", px=60_000)
    tasks.analyse(d.rt, req, "task-B")
    assert len(_outbox(store, "signal")) == 1


def test_the_database_keeps_one_signal_per_bar_when_redis_forgot_it(deploy: Factory) -> None:
    d = deploy()
    req = _qualifying(d)
    other = d.worker()
    outcomes: list[str | None] = []
    for rt in (d.rt, other):
        # Redis lost the bar's claim and its signal dedupe record (a flush, a failover).
        for name in rt.state.client.scan_iter(match=f"{rt.state.prefix}*"):
            if b":bar:" in name or b"signal-dedupe:" in name:
                rt.state.client.delete(name)
        outcomes.append(tasks.analyse(rt, req, uuid.uuid4().hex)["signal"])
    assert outcomes == ["NOTIFIED", "DEDUPED_DB"]
    assert len(_outbox(d.rt.store, "signal")) == 1


def test_a_store_outage_gives_the_bar_back_for_a_retry(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(60)
    d.tick()
    [req] = [r for r in d.take() if r["symbol"] == "SIM"]
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{d.db_name}"
        settings = d.handle.settings.model_copy(update={"database_url": SecretStr(url)})
        h = mc.install(
            Celery("via-proxy"), settings, watchlist=d.watchlist, options=d.handle.options, agents=None
        )
        d.extra.append(h)
        rt = h.runtime()
        assert rt.store.health()["ok"]  # connected through the proxy
        proxy.stop()  # the database goes away
        out = tasks.analyse(rt, req, "t-1")
        assert out["status"] == "store_error"
        assert rt.state.claim_state("SIM", "1m", req["start_ns"]) == "q"
        proxy.start()
        assert wait_until(lambda: rt.store.health()["ok"], 10)
        assert tasks.analyse(rt, req, "t-1")["status"] == "COMPLETE"


# ------------------------------------------------------------------------------ the board


def test_failures_open_only_the_failing_pairs_breaker_and_the_tick_skips_only_it(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    for _ in range(6):
        d.cycle()
    assert ("BROKEN", "1m") in d.rt.state.open_breakers()
    d.jump(60)
    report = d.tick()
    queued = {(r["symbol"], r["timeframe"]) for r in d.take()}
    assert report["skipped_breaker"] == 1
    assert queued == {("SPY", "1m"), ("SIM", "1m")}
    rows = {(r["symbol"], r["timeframe"]): r for r in d.rt.store.ingestion_status()}
    assert rows[("BROKEN", "1m")]["breaker_open"] is True
    assert rows[("BROKEN", "1m")]["last_error_code"] == "ANALYSIS_ERR"
    assert rows[("SPY", "1m")]["breaker_open"] is False
    kinds = [
        (r["kind"], r["payload"]["fields"]["event"])
        for r in _outbox(d.rt.store)
        if r["kind"] in ("escalation", "breaker")
    ]
    assert ("breaker", "breaker_open") in kinds
    # The monitoring of the escalation saw it too: its alert went to the outbox as well.
    assert any(
        r["kind"] == "alert" and r["payload"]["title"] == "FIRING pair_breaker_open"
        for r in _outbox(d.rt.store)
    )


def test_a_bar_queued_before_its_pairs_breaker_opened_is_skipped_when_it_runs(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.jump(60)
    d.tick()
    [req] = [r for r in d.take() if r["symbol"] == "SIM"]
    for _ in range(3):
        d.rt.state.push_failure("SIM", "1m", d.rt.now_ns(), "ANALYSIS_ERR")
    for _ in range(3):  # ERROR three cycles in a row: the breaker opens
        escalation.evaluate(d.rt)
        d.jump(1)
    assert ("SIM", "1m") in d.rt.state.open_breakers()
    assert tasks.analyse(d.rt, req, "t-1")["status"] == "skipped_breaker"
    assert _rows(d.rt.store, "SIM", "1m") == []
    assert d.handle.counters()["bars_skipped_breaker"] == 1


def test_the_board_carries_over_between_worker_processes(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.cycle()
    d.cycle()  # BROKEN: 2 failures -> WARN
    assert {(r["symbol"], r["escalation_level"]) for r in d.handle.pairs()} >= {("BROKEN", "WARN")}
    other = d.worker()
    d.jump(60)
    d.tick()
    d.analyse_all()
    escalation.evaluate(other)  # a process that never saw the board: it loads it from Redis
    level = {(r["symbol"], r["timeframe"]): r["escalation_level"] for r in d.handle.pairs()}
    assert level[("BROKEN", "1m")] == "ERROR"  # 3 failures in 5 minutes
    assert level[("SPY", "1m")] == "INFO"


def test_two_evaluations_never_run_at_once(deploy: Factory) -> None:
    d = deploy()
    held = d.rt.state.lock("board", 30)
    assert held.acquire(blocking=False)
    try:
        assert escalation.evaluate(d.worker())["evaluated"] is False
    finally:
        held.release()
    assert escalation.evaluate(d.rt)["evaluated"] is True


def test_an_evaluation_that_outlived_its_lock_does_not_overwrite_a_newer_board(
    deploy: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """The board lock expired mid-evaluation and another evaluation saved meanwhile: the
    late one writes nothing (the failures it applied stay queued for the next one), drops
    its cached board, and releasing its expired lock is a warning, not an error."""
    d = deploy()
    state = d.rt.state
    escalation.evaluate(d.rt)
    state.push_failure("SIM", "1m", d.rt.now_ns(), "ANALYSIS_ERR")
    board_before = state.client.get(state.key("board"))
    real_load_board = escalation.load_board

    def another_evaluation_saves_meanwhile(rt: Runtime) -> Any:
        cache = real_load_board(rt)
        state.client.incr(state.key("board", "version"))  # the other evaluation's save
        state.client.delete(state.key("lock", "board"))  # this one's lock had expired
        return cache

    with pytest.MonkeyPatch.context() as mp, caplog.at_level("WARNING", logger="montalaq.celery"):
        mp.setattr(escalation, "load_board", another_evaluation_saves_meanwhile)
        out = escalation.evaluate(d.rt)
    assert out["evaluated"] is False
    assert "moved" in out["reason"]
    assert state.client.get(state.key("board")) == board_before
    assert len(state.failures()) == 1  # not consumed: the next evaluation applies it
    assert d.rt.board_cache is None
    assert "lock expired before it was released" in caplog.text
    assert escalation.evaluate(d.rt)["evaluated"] is True
    assert state.failures() == []
    fails = {(r["symbol"], r["timeframe"]): r["fails_5m"] for r in d.handle.pairs()}
    assert fails[("SIM", "1m")] == 1  # applied once


def test_a_dropped_analysis_does_not_hold_up_its_pairs_next_bar(deploy: Factory) -> None:
    d = deploy()
    start_ns = d.rt.now_ns() // 60_000_000_000 * 60_000_000_000
    req = {"symbol": "SPY", "timeframe": "1m", "start_ns": start_ns}
    d.rt.state.mark_queued("SPY", "1m", start_ns, 600)
    tasks.give_up(d.rt, req, "DB_CONN_ERR")
    assert d.rt.state.claim_state("SPY", "1m", start_ns) == "d"
    assert d.rt.state.failures()[-1][3] == "DB_CONN_ERR"


def test_failures_queued_after_an_evaluation_wait_for_the_next_one(deploy: Factory) -> None:
    d = deploy()
    state = d.rt.state
    state.push_failure("SIM", "1m", d.rt.now_ns(), "ANALYSIS_ERR")
    escalation.evaluate(d.rt)
    state.push_failure("SIM", "1m", d.rt.now_ns(), "ANALYSIS_ERR")
    assert len(state.failures()) == 1
    fails = {(r["symbol"], r["timeframe"]): r["fails_5m"] for r in d.handle.pairs()}
    assert fails[("SIM", "1m")] == 1
    escalation.evaluate(d.rt)
    assert state.failures() == []
    fails = {(r["symbol"], r["timeframe"]): r["fails_5m"] for r in d.handle.pairs()}
    assert fails[("SIM", "1m")] == 2


def test_events_a_dead_evaluator_stored_are_notified_once_by_the_next(deploy: Factory) -> None:
    d = deploy()
    event = {
        "kind": "level",
        "symbol": "SIM",
        "timeframe": "1m",
        "old": "INFO",
        "new": "WARN",
        "reason": "analysis failures in the window",
        "at_ns": d.rt.now_ns(),
        "last_error_code": "ANALYSIS_ERR",
    }
    d.rt.state.client.rpush(d.rt.state.key("events"), json.dumps(event))
    escalation.evaluate(d.worker())
    escalation.evaluate(d.rt)
    [row] = [r for r in _outbox(d.rt.store) if r["payload"]["title"] == "SIM 1m: escalation INFO -> WARN"]
    assert row["error_code"] == "ANALYSIS_ERR"
    assert d.rt.state.client.llen(d.rt.state.key("events")) == 0


def test_the_escalation_writes_every_pairs_status_row(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    d.cycle()
    rows = {(r["symbol"], r["timeframe"]): r for r in d.rt.store.ingestion_status()}
    assert set(rows) == set(d.watchlist.pairs())
    assert rows[("SPY", "5m")]["provider"] == "AllTick"
    assert rows[("SIM", "1m")]["provider"] == "TwelveData"
    assert all(r["freshness"] == "GREEN" and r["last_tick_at"] is not None for r in rows.values())


def test_vectorised_colours_match_the_boards_own(deploy: Factory) -> None:
    d = deploy()
    escalation.evaluate(d.rt)
    cache = escalation.load_board(d.rt)
    now = d.rt.now_ns()
    # SPY 1m never traded (RED), SPY 5m 100 s ago (GREEN), SIM 1m 100 s ago (AMBER),
    # BROKEN 1m 300 s ago (RED).
    assert cache.pairs == [("SPY", "1m"), ("SPY", "5m"), ("SIM", "1m"), ("BROKEN", "1m")]
    ticks = np.array([0, now - 100 * NS, now - 100 * NS, now - 300 * NS], dtype=np.int64)
    cache.board.evaluate(now, ticks)
    codes = escalation.colours(cache, ticks, now)
    want = [("GREEN", "AMBER", "RED").index(r["freshness"]) for r in cache.board.pairs(now)]
    assert codes.tolist() == want == [2, 0, 1, 2]


def test_an_operator_close_closes_the_breaker_notifies_and_updates_status(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    for _ in range(6):
        d.cycle()
    assert ("BROKEN", "1m") in d.rt.state.open_breakers()
    out = d.handle.close_breaker("BROKEN", "1m")
    assert out["event"] is not None
    assert (out["closed"], out["breaker_open"], out["event"]["kind"]) == (True, False, "breaker_close")
    assert ("BROKEN", "1m") not in d.rt.state.open_breakers()
    [row] = [r for r in d.rt.store.ingestion_status("BROKEN")]
    assert row["breaker_open"] is False
    assert d.handle.close_breaker("BROKEN", "1m")["closed"] is False  # not open any more
    closes = [r for r in _outbox(d.rt.store, "breaker") if r["payload"]["fields"]["event"] == "breaker_close"]
    assert len(closes) == 1


def test_an_operator_close_of_an_unknown_pair_names_the_watched_pairs(deploy: Factory) -> None:
    d = deploy()
    with pytest.raises(ValueError, match=r"pair: \('QQQ', '1m'\) is not in the watchlist; watched"):
        d.handle.close_breaker("QQQ", "1m")


def test_the_breaker_task_repairs_a_stale_open_breaker_set(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    for _ in range(6):
        d.cycle()
    state = d.rt.state
    state.client.delete(state.key("breakers"))  # lost (an operator FLUSH, a bug)
    state.client.sadd(state.key("breakers"), "SPY|1m")
    out = escalation.breaker_tick(d.worker())
    assert out["open"] == ["BROKEN|1m"]
    assert state.open_breakers() == {("BROKEN", "1m")}


# ------------------------------------------------------------------------------ KPIs, delivery


def test_kpi_rollup_counts_the_window_from_the_database(deploy: Factory) -> None:
    d = deploy(agents=mc._default_agents)
    d.tick()
    d.jump(1)
    kpi.kpi_rollup(d.rt)  # opens the window
    results = [d.cycle() for _ in range(3)]
    d.jump(1)
    doc = kpi.kpi_rollup(d.rt)
    assert doc["rolled"] is True
    statuses = [r["status"] for batch in results for r in batch]
    assert doc["analyses"] == {"COMPLETE": statuses.count("COMPLETE"), "FAILED": statuses.count("FAILED")}
    assert doc["analyses"]["FAILED"] == 3  # BROKEN
    assert doc["findings"] == doc["counters"]["findings"] > 0  # the database agrees with the workers
    assert doc["counters"]["bars_queued"] == len(statuses)
    assert d.handle.kpis(10)[0] == {k: v for k, v in doc.items() if k != "rolled"}


def test_two_workers_delivering_at_once_send_each_notification_once(
    deploy: Factory, http_receiver: HttpReceiver
) -> None:
    d = deploy()
    for i in range(200):
        d.rt.notifier.notify("alert", f"event {i}", idempotency_key=f"evt-{i:03d}")
    runtimes = [d.rt, d.worker()]
    sent: list[int] = []

    def drain(rt: Runtime) -> None:
        while True:
            n = tasks.deliver(rt)["delivered"]
            sent.append(n)
            if n == 0 and d.rt.store.outbox.counts()["PENDING"] == 0:
                return

    threads = [threading.Thread(target=drain, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    keys = http_receiver.idempotency_keys()
    assert sorted(keys) == [f"evt-{i:03d}" for i in range(200)]
    assert sum(sent) == 200


def test_the_error_throttle_is_shared_by_every_worker(deploy: Factory) -> None:
    d = deploy()
    a = SharedErrorThrottle(d.rt.state)
    b = SharedErrorThrottle(d.worker().state)
    assert a.report("BROKER", "rejected") == ThrottleDecision.NOTIFY
    assert b.report("BROKER", "rejected again") == ThrottleDecision.SUPPRESSED
    assert [r["count"] for r in a.summary()] == [2]


def test_a_channels_breaker_opens_for_every_worker(deploy: Factory) -> None:
    d = deploy()
    a = SharedCircuitBreaker(d.rt.state, "notify.slack", failure_threshold=2, cooldown_s=60)
    b = SharedCircuitBreaker(d.worker().state, "notify.slack", failure_threshold=2, cooldown_s=60)
    a.record_failure()
    b.record_failure()
    assert a.state() == BreakerState.OPEN
    assert b.allow() is False


def test_the_shared_breaker_takes_now_in_any_form_and_the_old_now_ns_keyword_warns(deploy: Factory) -> None:
    d = deploy()
    t0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
    a = SharedCircuitBreaker(d.rt.state, "notify.email", failure_threshold=1, cooldown_s=60)
    b = SharedCircuitBreaker(d.worker().state, "notify.email", failure_threshold=1, cooldown_s=60)
    a.record_failure(datetime(2026, 1, 1, tzinfo=UTC))
    assert b.retry_after_ns(np.datetime64(t0 + 20 * NS, "ns")) == 40 * NS
    assert b.state(now=t0 + 59 * NS) == BreakerState.OPEN
    with pytest.warns(DeprecationWarning, match="now_ns is deprecated, pass now=") as record:
        assert b.allow(now_ns=t0 + 60 * NS) is True  # the half-open probe, taken once cluster-wide
    assert [w.filename for w in record] == [__file__]
    assert a.allow(t0 + 61 * NS) is False
    with pytest.raises(TypeError, match="pass now= or now_ns=, not both"):
        a.record_success(t0, now_ns=t0)
    with pytest.raises(TypeError, match=r"^now: .*got float"):
        a.state(t0 / 1e9)


# ------------------------------------------------------------------------------ one cycle, two adapters


def _gap_trades() -> montalaq.Trades:
    """The SPY day with 14:10-14:17 cut out (the 1m pair goes RED, its breaker opens)."""
    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    t1330 = 1_381_152_600 * NS
    hole = (spy.ts_ns >= t1330 + 40 * MIN) & (spy.ts_ns < t1330 + 47 * MIN)
    return replace(spy, ts_ns=spy.ts_ns[~hole], price=spy.price[~hole], size=spy.size[~hole])


GAP_WATCHLIST = (
    "feed: {warmup_s: 1800}\npairs:\n  - {symbol: SPY, provider: AllTick, timeframes: [1m, 5m, 15m], "
    "source: custom}\n"
)


def _gap_deploy(deploy: Factory, **env: str) -> tuple[Deployment, Callable[[int], Any], FeedRecord]:
    """A deployment replaying :func:`_gap_trades` from its origin, its clock pinned (virtual
    time moves only with ``jump``); the provider factory and the pinned record."""
    from montalaq.feeds import ReplayProvider

    gap = _gap_trades()

    def feed(origin_ns: int) -> ReplayProvider:
        return ReplayProvider(
            gap, symbol="SPY", name="AllTick", start_offset_s=5.5 * 3600, start_ns=origin_ns
        )

    d = deploy(GAP_WATCHLIST, ml=None, provider_factory=lambda entry, origin_ns: feed(origin_ns), **env)
    record = d.rt.state.feed()
    assert record is not None
    pinned = replace(record, speed=1e-15)
    d.rt.state.save_feed(pinned)
    d.rt.set_clock(pinned)
    return d, feed, pinned


def test_the_one_process_and_the_celery_paths_give_identical_events_and_status(
    deploy: Factory, tmp_path: Path
) -> None:
    """The same SPY replay with a 7-minute hole, cycled minute by minute at the same virtual
    times through montalaq.Service and through the Celery tick/analyse/escalation tasks: the
    same escalation and breaker notifications (titles, fields, error codes, idempotency
    keys) and the same status rows."""
    from montalaq.feeds import ReplayProvider
    from montalaq.notify import notifier_from_settings
    from montalaq.service import Service

    spy = montalaq.read_trades(montalaq.sample_path("spy"))
    t1330 = 1_381_152_600 * NS
    hole = (spy.ts_ns >= t1330 + 40 * MIN) & (spy.ts_ns < t1330 + 47 * MIN)
    gap = replace(spy, ts_ns=spy.ts_ns[~hole], price=spy.price[~hole], size=spy.size[~hole])

    def feed(origin_ns: int) -> ReplayProvider:
        return ReplayProvider(
            gap, symbol="SPY", name="AllTick", start_offset_s=5.5 * 3600, start_ns=origin_ns
        )

    env = {"ESCALATION_EVAL_INTERVAL_SEC": "1", "BREAKER_AUTO_CLOSE_CYCLES": "3"}
    d = deploy(
        "feed: {warmup_s: 1800}\npairs:\n  - {symbol: SPY, provider: AllTick, timeframes: [1m, 5m, 15m], "
        "source: custom}\n",
        ml=None,
        provider_factory=lambda entry, origin_ns: feed(origin_ns),
        **env,
    )
    record = d.rt.state.feed()
    assert record is not None
    pinned = replace(record, speed=1e-15)  # virtual time moves only with d.jump()
    d.rt.state.save_feed(pinned)
    d.rt.set_clock(pinned)

    settings = Settings.from_env(
        {
            **env,
            "SYMBOL": "SPY",
            "NOTIFY_WEBHOOK_ENABLED": "true",
            "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        }
    )
    with Store(f"sqlite:///{tmp_path / 'one.db'}") as store:
        service = Service(
            settings,
            store=store,
            notifier=notifier_from_settings(settings, store),
            providers={"SPY": feed(pinned.origin_ns)},
            close_grace_s=0.0,
        )
        now = pinned.anchor_virtual_ns
        d.tick()
        d.analyse_all()
        escalation.evaluate(d.rt)
        service.step(now)
        for _ in range(40):
            now += MIN
            d.cycle(1)
            service.step(now)

        def notifications(s: Store) -> list[tuple[Any, ...]]:
            rows = [r for r in s.outbox.rows(limit=10_000) if r.kind in ("escalation", "breaker")]
            return sorted(
                (
                    r.idempotency_key,
                    r.kind,
                    r.payload["title"],
                    json.dumps(r.payload["fields"], sort_keys=True),
                    r.error_code,
                )
                for r in rows
            )

        one, celery = notifications(store), notifications(d.rt.store)
        assert one == celery
        kinds = {(k[1], json.loads(k[3])["new"]) for k in one}
        assert ("escalation", "CRITICAL") in kinds
        assert ("breaker", "OPEN") in kinds
        assert ("breaker", "CLOSED") in kinds  # and auto-closed after the feed came back

        def status(s: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
            return {
                (r["symbol"], r["timeframe"]): (
                    r["freshness"],
                    r["escalation_level"],
                    r["breaker_open"],
                    r["last_error_code"],
                    r["provider"],
                )
                for r in s.ingestion_status()
            }

        assert status(store) == status(d.rt.store)


# ------------------------------------------------------------------------------ lifecycle and monitoring


def test_a_worker_starts_under_the_lifecycle_and_says_so_in_redis(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    [(worker, doc)] = d.handle.workers().items()
    assert worker == d.rt.worker_id
    assert doc["state"] == "ACTIVE"
    assert doc["details"]["previous"] == "STARTING"


def test_a_worker_whose_database_does_not_exist_yet_waits_and_recovers(
    deploy: Factory, pg_migrated_template: str
) -> None:
    from store_fixtures import pg_connect

    name = f"montalaq_test_wait_{os.getpid()}"
    d = deploy(DATABASE_URL=pg_database_url(name), WAITING_RECHECK_SEC="0.2", STARTUP_CHECK_RETRIES="0")
    try:
        out = d.tick()  # WAITING runs the tick (its status write fails and is counted)
        assert out["ticked"] is True
        assert d.rt.lifecycle.state == OpState.WAITING
        assert d.handle.workers()[d.rt.worker_id]["state"] == "WAITING"
        assert escalation.evaluate(d.rt)["evaluated"] is True  # the board lives in Redis
        with pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_migrated_template}"')
        assert wait_until(lambda: d.rt.lifecycle.state == OpState.ACTIVE, 10)
        assert wait_until(lambda: d.handle.workers()[d.rt.worker_id]["state"] == "ACTIVE", 5)
    finally:
        d.rt.lifecycle.shutdown("test over")
        drop_pg_database(name)


def test_the_escalation_records_metrics_and_alerts_once_whichever_worker_evaluates(
    deploy: Factory, tmp_path: Path
) -> None:
    d, _feed, _pinned = _gap_deploy(
        deploy,
        ESCALATION_EVAL_INTERVAL_SEC="1",
        ALERTS_DIR=str(tmp_path / "alerts"),
        METRICS_DIR=str(tmp_path / "monitoring"),
    )
    other = d.worker()
    d.handle.add_metrics_source(lambda: {"positions": {"count": 2}, "pnl": {"daily_loss_pct": -1.0}})
    d.tick()
    escalation.evaluate(d.rt)
    for k in range(25):
        d.jump(60)
        d.tick()
        escalation.evaluate(other if k % 2 else d.rt)  # two processes take turns
    from montalaq.monitoring.alerts import AlertLog

    stale = [(a.rule, a.state) for a in AlertLog(tmp_path / "alerts").read() if a.rule == "feed_stale"]
    assert stale == [("feed_stale", "FIRING"), ("feed_stale", "RESOLVED")]
    mon = d.rt.monitoring
    assert mon is not None
    assert mon.stats.processed + other.monitoring.stats.processed == 26  # type: ignore[union-attr]
    assert mon.unknown_metrics == set()
    flat = mon._last_flat
    assert "pairs.SPY:1m.freshness" in flat
    assert (flat["positions.count"], flat["risk.daily_loss_pct"]) == (2.0, 1.0)  # the host's source


def _stored_board(d: Deployment) -> bytes:
    """What Redis holds under the board key (bytes: the client does not decode)."""
    raw = d.rt.state.client.get(d.rt.state.key("board"))
    assert isinstance(raw, bytes)
    return raw


def test_the_shared_board_is_a_binary_snapshot_and_an_older_json_document_still_loads(
    deploy: Factory,
) -> None:
    d = deploy()
    d.tick()
    d.cycle()
    d.cycle()  # BROKEN: WARN
    state = d.rt.state
    raw = _stored_board(d)
    assert raw[:4] == b"MQEB"
    levels = {(r["symbol"], r["timeframe"]): r["escalation_level"] for r in d.handle.pairs()}
    assert levels[("BROKEN", "1m")] == "WARN"
    # What a deployment from before the snapshots left in Redis: the JSON document.
    state.client.set(state.key("board"), decode_board(raw).to_json())
    state.client.incr(state.key("board", "version"))
    assert {(r["symbol"], r["timeframe"]): r["escalation_level"] for r in d.handle.pairs()} == levels
    assert escalation.evaluate(d.worker())["evaluated"] is True
    assert _stored_board(d)[:4] == b"MQEB"  # saved as a snapshot again
    assert {(r["symbol"], r["timeframe"]): r["escalation_level"] for r in d.handle.pairs()} == levels


def test_a_damaged_shared_board_is_refused_with_what_is_wrong_and_left_as_it_is(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    escalation.evaluate(d.rt)
    state = d.rt.state
    damaged = _stored_board(d)[:100]
    state.client.set(state.key("board"), damaged)
    state.client.incr(state.key("board", "version"))
    with pytest.raises(ValueError, match="snapshot truncated"):
        escalation.evaluate(d.worker())
    assert state.client.get(state.key("board")) == damaged
    assert state.client.get(state.key("lock", "board")) is None  # the lock was released


def test_a_new_auto_close_setting_applies_to_the_shared_board(deploy: Factory) -> None:
    d = deploy()
    d.tick()
    escalation.evaluate(d.rt)
    assert decode_board(_stored_board(d)).config()["auto_close_cycles"] == 0
    # A worker started after BREAKER_AUTO_CLOSE_CYCLES changed, on the same shared board.
    settings = d.handle.settings.model_copy(update={"breaker_auto_close_cycles": 4})
    rt = mc.install(
        Celery("other"), settings, watchlist=d.watchlist, options=d.handle.options, agents=None
    ).runtime()
    assert escalation.evaluate(rt)["evaluated"] is True
    board = decode_board(_stored_board(d))
    assert board.config()["auto_close_cycles"] == 4
    assert d.rt.board_cache is not None
    assert len(board) == len(d.rt.board_cache.board)  # every pair kept
