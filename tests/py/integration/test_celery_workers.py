"""montalaq on real Celery (docs/semantics.md, Celery): two ``celery worker`` processes and a
``celery beat`` on a real Redis broker, a real PostgreSQL database and a loopback webhook
receiver, over the SPY sample replayed 60x faster with a 30-minute warm-up, a healthy
simulated instrument (SIM) and one whose model always fails (BROKEN).

Two runs, each shared by the tests of its kind: a clean run where every analysis request is
published twice (both workers see every bar), and a run where one worker is SIGKILLed in the
middle of an analysis. The expected bars come from the trades themselves (timestamps
bucketed with numpy), not from the engine under test.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from celery_support import NS, Cluster, closed_bar_starts, replay_trades_ns, wait_until
from store_fixtures import create_pg_database, drop_pg_database, fixture_pg_migrated_template, pg_database_url

from receivers import HttpReceiver

if TYPE_CHECKING:
    import montalaq.celery as mc
    from montalaq.shapes import BoardRow, KpiWindow

# Real Celery workers on a real Redis broker (PostgreSQL is marked through its fixture); slow:
# scheduled first in parallel runs.
pytestmark = [pytest.mark.redis, pytest.mark.slow]

_ = fixture_pg_migrated_template  # the session template the databases are copied from

REDIS_URL = os.environ.get("MONTALAQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
THRESHOLD = 60.0
SOURCES: dict[str, dict[str, Any]] = {
    "SPY": {"kind": "sample", "name": "spy"},
    "SIM": {"kind": "simulated", "seed": 11, "start_price": 100.0},
    "BROKEN": {"kind": "simulated", "seed": 12, "start_price": 5.0},
}
TIMEFRAMES = {"SPY": ["1m", "5m"], "SIM": ["1m"], "BROKEN": ["1m"]}
WATCHLIST = """\
feed: {speed: 60, warmup_s: 1800}
pairs:
  - {symbol: SPY, provider: AllTick, timeframes: [1m, 5m], source: {kind: sample, name: spy}}
  - {symbol: SIM, provider: TwelveData, timeframes: [1m],
     source: {kind: simulated, seed: 11, start_price: 100}}
  - {symbol: BROKEN, provider: TwelveData, timeframes: [1m],
     source: {kind: simulated, seed: 12, start_price: 5}}
"""
GREEN_PAIRS = [("SPY", "1m"), ("SPY", "5m"), ("SIM", "1m")]


@dataclass
class RunResult:
    """What one cluster run left behind."""

    cursor_ns: int
    first_bar_ns: int
    origin_ns: int
    analyses: list[dict[str, Any]]
    signals: list[dict[str, Any]]  # webhook payloads of kind "signal"
    signal_keys: list[str]  # their Idempotency-Key headers, one per delivery
    counters: dict[str, int]
    kpis: list[KpiWindow]
    board: list[BoardRow]
    logs: dict[str, str]
    outbox: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def expected(self, symbol: str, timeframe: str) -> list[int]:
        ts = replay_trades_ns(SOURCES[symbol], self.origin_ns, self.cursor_ns)
        return closed_bar_starts(ts, timeframe, self.first_bar_ns, self.cursor_ns)

    def analysed(self, symbol: str, timeframe: str) -> list[int]:
        return sorted(
            _ns(a["bar_ts"]) for a in self.analyses if a["symbol"] == symbol and a["timeframe"] == timeframe
        )

    def qualifying(self) -> set[tuple[str, str, int]]:
        return {
            (a["symbol"], a["timeframe"], _ns(a["bar_ts"]))
            for a in self.analyses
            if a["status"] == "COMPLETE"
            and a["composite_score"] is not None
            and a["composite_score"] >= THRESHOLD
        }

    def delivered(self) -> Counter[tuple[str, str, int]]:
        return Counter(
            (p["fields"]["symbol"], p["fields"]["timeframe"], _ns(_parse(p["fields"]["bar_ts"])))
            for p in self.signals
        )


def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _config(
    prefix: str, db_url: str, receiver: HttpReceiver, watchlist: Path, **extra: Any
) -> dict[str, Any]:
    return {
        "broker_url": REDIS_URL,
        "prefix": prefix,
        "queue": f"{prefix}q",
        "watchlist_path": str(watchlist),
        "tick_interval_s": 0.25,
        "deliver_interval_s": 0.5,
        "visibility_timeout_s": 3.0,
        "ml_fail_below": 10.0,
        "env": {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "NOTIFY_WEBHOOK_ENABLED": "true",
            "NOTIFY_WEBHOOK_URL": receiver.url + "/hook",
            "NOTIFY_RATE_LIMIT_PER_MIN": "100000",
            "ANALYSIS_NOTIFY_THRESHOLD": str(THRESHOLD),
            "ANALYSIS_NOTIFY_DEDUPE_SEC": "86400",
            "ESCALATION_EVAL_INTERVAL_SEC": "1",
            "CIRCUIT_BREAKER_INTERVAL_SEC": "1",
            "KPI_ROLLUP_INTERVAL_SEC": "2",
            # The escalation's monitoring writes beside the watchlist (the test's folder).
            "ALERTS_DIR": str(watchlist.parent / "alerts"),
            "METRICS_DIR": str(watchlist.parent / "monitoring"),
        },
        **extra,
    }


def _broker_idle(client: redis.Redis, config: dict[str, Any]) -> bool:
    p = f"{config['prefix']}kombu:"
    return int(client.llen(p + config["queue"])) == 0 and int(client.hlen(p + "unacked")) == 0


def _drain_and_collect(cluster: Cluster, client: redis.Redis, receiver: HttpReceiver) -> RunResult:
    """Stop the beat, let the workers finish everything queued, deliver the outbox, read
    what the run left."""
    from celery_worker_app import make_app

    config = cluster.config
    cluster.stop("beat")
    assert wait_until(lambda: _broker_idle(client, config), 60, 0.2), "the queue did not drain"
    time.sleep(1.0)  # a task still finishing after its message was acknowledged
    assert wait_until(lambda: _broker_idle(client, config), 60, 0.2), "the queue did not drain"
    app, handle = make_app(config)
    try:
        rt = handle.runtime()
        store = rt.store

        def outbox_done() -> bool:
            counts = store.outbox.counts()
            if counts["PENDING"] == 0 and counts["FOLDED"] == 0:
                return True
            handle.tasks["deliver"].apply_async(queue=config["queue"])
            return False

        assert wait_until(outbox_done, 60, 0.5), f"outbox not delivered: {store.outbox.counts()}"
        record = rt.state.feed()
        assert record is not None
        with store.engine.connect() as conn:
            from sqlalchemy import select

            from montalaq.store import schema

            analyses = [dict(r._mapping) for r in conn.execute(select(schema.trade_analysis))]
        accepted = receiver.accepted()
        signals = [r.json for r in accepted if isinstance(r.json, dict) and r.json.get("kind") == "signal"]
        keys = [r.headers["idempotency-key"] for r in accepted if (r.json or {}).get("kind") == "signal"]
        return RunResult(
            cursor_ns=record.cursor_ns,
            first_bar_ns=record.first_bar_ns,
            origin_ns=record.origin_ns,
            analyses=analyses,
            signals=signals,
            signal_keys=keys,
            counters=handle.counters(),
            kpis=handle.kpis(1000),
            board=handle.pairs(),
            logs={name: p.text() for name, p in cluster.procs.items()},
            outbox=store.outbox.counts(),
        )
    finally:
        handle.close()
        app.close()


def _warm_up(config: dict[str, Any]) -> None:
    """Run the first tick (it rebuilds the engine over the watchlist's 30 min warm-up, seconds
    on a loaded machine) before the beat starts: at speed 60 the escalation would otherwise
    see three virtual minutes without trades and open every pair's breaker."""
    from celery_worker_app import make_app

    app, handle = make_app(config)
    try:
        handle.tasks["tick"].apply_async(queue=config["queue"])
        assert wait_until(lambda: handle.counters().get("ticks", 0) >= 1, 120, 0.2), (
            "the first tick never ran"
        )
    finally:
        handle.close()
        app.close()


def _wait_for_counter(config: dict[str, Any], name: str, timeout_s: float) -> None:
    from celery_worker_app import make_app

    app, handle = make_app(config)
    try:
        wait_until(lambda: handle.counters().get(name, 0) >= 1, timeout_s, 0.2)
    finally:
        handle.close()
        app.close()


def _run_until(config: dict[str, Any], done: Callable[[mc.MontalaqCelery], bool], what: str) -> None:
    """Let the cluster run until ``done`` holds (polled through a client app): the tests
    check what the run reached, not how long it ran, so a loaded machine only makes the run
    longer instead of leaving it short of ticks, bars or an opened breaker."""
    from celery_worker_app import make_app

    app, handle = make_app(config)
    try:
        reached = wait_until(lambda: done(handle), 180, 0.25)
        assert reached, f"the run never reached {what}: {handle.counters()}"
    finally:
        handle.close()
        app.close()


def _closed_minutes(handle: mc.MontalaqCelery) -> float:
    """Virtual minutes the replay has run since its first bar."""
    record = handle.runtime().state.feed()
    return 0.0 if record is None else (record.cursor_ns - record.first_bar_ns) / (60 * NS)


def _pair(handle: mc.MontalaqCelery, symbol: str, timeframe: str) -> BoardRow | None:
    return next((r for r in handle.pairs() if (r["symbol"], r["timeframe"]) == (symbol, timeframe)), None)


def _clean_run_done(handle: mc.MontalaqCelery) -> bool:
    """Everything the clean run's tests look at has happened at least as often as they ask:
    12 closed minutes, the periodic tasks' counts, three KPI windows, BROKEN's breaker open
    and two more minutes of the others after it opened."""
    c = handle.counters()
    if c.get("ticks", 0) < 10 or c.get("escalation_cycles", 0) < 2 or c.get("breaker_ticks", 0) < 2:
        return False
    if c.get("kpi_rollups", 0) < 3 or len(handle.kpis(10)) < 3:
        return False
    broken = _pair(handle, "BROKEN", "1m")
    if broken is None or not broken["breaker_open"] or broken["breaker_changed_at"] is None:
        return False
    record = handle.runtime().state.feed()
    return (
        record is not None
        and _closed_minutes(handle) >= 12
        and (record.cursor_ns >= _ns(broken["breaker_changed_at"]) + 2 * 60 * NS)
    )


def _watchlist(tmp: Path) -> Path:
    path = tmp / "watchlist.yaml"
    path.write_text(WATCHLIST)
    return path


@pytest.fixture(scope="module")
def clean_run(pg_migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunResult]:
    """Two workers and the beat for at least 14 s (14 one-minute bars of virtual time) and
    until the tests' checks are reachable (``_clean_run_done``), every analysis request
    published twice."""
    tmp = tmp_path_factory.mktemp("celery-clean")
    name = create_pg_database(template=pg_migrated_template)
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"montalaq-test:{uuid.uuid4().hex}:"
    with HttpReceiver() as receiver:
        config = _config(prefix, pg_database_url(name), receiver, _watchlist(tmp), duplicate_analyses=True)
        cluster = Cluster(config, tmp)
        try:
            w1, w2 = cluster.start_worker("w1"), cluster.start_worker("w2")
            cluster.wait_ready(w1)
            cluster.wait_ready(w2)
            _warm_up(config)
            cluster.start_beat()
            time.sleep(14.0)
            _run_until(config, _clean_run_done, "the clean run's checks")
            yield _drain_and_collect(cluster, client, receiver)
        finally:
            cluster.stop_all()
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
            drop_pg_database(name)


@pytest.fixture(scope="module")
def kill_run(pg_migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunResult]:
    """Two workers and the beat; after 5 s a worker is SIGKILLed while it holds a bar's
    running claim in Redis (each analysis takes >= 0.1 s: the model sleeps), so the kill
    lands mid-analysis whatever the machine's load; the other goes on alone for 7 s."""
    tmp = tmp_path_factory.mktemp("celery-kill")
    name = create_pg_database(template=pg_migrated_template)
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"montalaq-test:{uuid.uuid4().hex}:"
    with HttpReceiver() as receiver:
        config = _config(prefix, pg_database_url(name), receiver, _watchlist(tmp), ml_sleep_s=0.1)
        cluster = Cluster(config, tmp)
        try:
            w1, w2 = cluster.start_worker("w1"), cluster.start_worker("w2")
            cluster.wait_ready(w1)
            cluster.wait_ready(w2)
            _warm_up(config)
            cluster.start_beat()
            time.sleep(5.0)
            victim: list[str] = []

            def running_worker() -> bool:
                """A worker running an analysis: the one whose log alone names the task
                holding a running claim (``r:<task id>``)."""
                for key in client.scan_iter(match=f"{prefix}celery:bar:*", count=1000):
                    value = client.get(key)
                    if not isinstance(value, bytes) or not value.startswith(b"r:"):  # raw bytes client
                        continue
                    task_id = value[2:].decode()
                    holders = [p.name for p in (w1, w2) if task_id in p.text()]
                    if len(holders) == 1:
                        victim.append(holders[0])
                        return True
                return False

            assert wait_until(running_worker, 20, 0.005), "no analysis was seen running"
            cluster.kill(victim[0])
            killed_at = time.monotonic()
            # The survivor takes the dead worker's message over once its visibility timeout
            # (3 s) passes: wait for that (slower on a loaded machine), then go on alone.
            _wait_for_counter(config, "analyses_redelivered", 90)
            time.sleep(max(0.0, 7.0 - (time.monotonic() - killed_at)))
            _run_until(config, lambda h: _closed_minutes(h) >= 10, "ten closed minutes")
            result = _drain_and_collect(cluster, client, receiver)
            result.extra["seconds_after_kill"] = time.monotonic() - killed_at
            result.extra["killed"] = victim[0]
            yield result
        finally:
            cluster.stop_all()
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
            drop_pg_database(name)


# ------------------------------------------------------------------------------ the clean run


def test_every_green_pair_gets_one_analysis_per_closed_bar(clean_run: RunResult) -> None:
    for symbol, tf in GREEN_PAIRS:
        expected = clean_run.expected(symbol, tf)
        assert len(expected) >= (10 if tf == "1m" else 1), (symbol, tf, len(expected))
        assert clean_run.analysed(symbol, tf) == expected, (symbol, tf)
    assert all(a["status"] == "COMPLETE" for a in clean_run.analyses if a["symbol"] != "BROKEN")


def test_the_broken_pair_is_skipped_once_its_breaker_opens_while_the_others_continue(
    clean_run: RunResult,
) -> None:
    row = next(r for r in clean_run.board if (r["symbol"], r["timeframe"]) == ("BROKEN", "1m"))
    assert row["breaker_open"] is True
    changed_at = row["breaker_changed_at"]
    assert changed_at is not None
    opened_ns = _ns(changed_at)
    analysed = clean_run.analysed("BROKEN", "1m")
    closed = clean_run.expected("BROKEN", "1m")
    assert analysed, "BROKEN was never analysed"
    assert all(a["status"] == "FAILED" for a in clean_run.analyses if a["symbol"] == "BROKEN")
    # Every closed bar was either analysed (before the breaker opened) or skipped (after).
    assert max(analysed) < opened_ns
    assert clean_run.counters["bars_skipped_breaker"] == len(closed) - len(analysed) > 0
    # ... while the other pairs went on being analysed after it opened.
    for symbol, tf in GREEN_PAIRS:
        if tf == "1m":
            assert max(clean_run.analysed(symbol, tf)) > opened_ns, symbol


def test_each_qualifying_bar_is_notified_exactly_once_although_both_workers_saw_it(
    clean_run: RunResult,
) -> None:
    qualifying = clean_run.qualifying()
    assert len(qualifying) >= 3, "too few signals to say anything"
    delivered = clean_run.delivered()
    assert set(delivered) == qualifying
    assert all(n == 1 for n in delivered.values()), {k: n for k, n in delivered.items() if n > 1}
    assert len(clean_run.signal_keys) == len(set(clean_run.signal_keys)) == len(qualifying)
    # Every bar was published twice: the second copy found the bar claimed or done.
    assert clean_run.counters["analyses_duplicate"] >= clean_run.counters["bars_queued"] - 2


def test_both_workers_ran_analyses(clean_run: RunResult) -> None:
    for name in ("w1", "w2"):
        done = re.findall(r"Task montalaq\.analyse\[[0-9a-f-]+\] succeeded", clean_run.logs[name])
        assert len(done) >= 5, name
        # The periodic tasks' own "received"/"succeeded" lines are DEBUG (montalaq.celery.logs).
        assert "Task montalaq.tick[" not in clean_run.logs[name], name


def test_beat_fires_every_scheduled_task(clean_run: RunResult) -> None:
    # Periods 0.25 s (tick), 1 s (escalation, breakers), 2 s (KPI) over 14 s. A periodic
    # message expires after its period when both solo workers are busy with analyses, so on
    # a loaded machine fewer run than the arithmetic says (CI once saw 4 breaker ticks):
    # each must run repeatedly, not at a rate.
    c = clean_run.counters
    assert c["ticks"] >= 10
    assert c["escalation_cycles"] >= 2
    assert c["breaker_ticks"] >= 2
    assert c["kpi_rollups"] >= 2
    assert c["notifications_delivered"] >= len(clean_run.qualifying())
    assert clean_run.outbox["PENDING"] == clean_run.outbox["DEAD"] == 0


def test_kpi_windows_add_up_to_the_analyses_stored(clean_run: RunResult) -> None:
    kpis = clean_run.kpis
    assert len(kpis) >= 3
    # Windows are contiguous (each starts where the previous ended): together they count
    # every analysis finished between the first start and the last end.
    for newer, older in itertools.pairwise(kpis):
        assert newer["window_start"] == older["window_end"]
    start, end = _ns(_parse(kpis[-1]["window_start"])), _ns(_parse(kpis[0]["window_end"]))
    counted = sum(k["analyses"]["COMPLETE"] + k["analyses"]["FAILED"] for k in kpis)
    stored = sum(1 for a in clean_run.analyses if start <= _ns(a["updated_at"]) < end)
    assert counted == stored > 0
    assert sum(k["findings"] for k in kpis) > 0


# ------------------------------------------------------------------------------ the kill run


def test_killing_a_worker_mid_analysis_redelivers_it_to_the_other(kill_run: RunResult) -> None:
    assert kill_run.counters.get("analyses_redelivered", 0) >= 1, "the kill did not land mid-analysis"
    survivor = "w2" if kill_run.extra["killed"] == "w1" else "w1"
    assert "redelivered (its worker died): running it again" in kill_run.logs[survivor]


def test_killing_a_worker_loses_no_analysis(kill_run: RunResult) -> None:
    for symbol, tf in GREEN_PAIRS:
        expected = kill_run.expected(symbol, tf)
        assert len(expected) >= (8 if tf == "1m" else 1), (symbol, tf)
        assert kill_run.analysed(symbol, tf) == expected, (symbol, tf)
    assert all(a["status"] in ("COMPLETE", "FAILED") for a in kill_run.analyses)
    broken = kill_run.expected("BROKEN", "1m")
    analysed = kill_run.analysed("BROKEN", "1m")
    assert len(analysed) + kill_run.counters.get("bars_skipped_breaker", 0) == len(broken)


def test_killing_a_worker_loses_no_notification(kill_run: RunResult) -> None:
    qualifying = kill_run.qualifying()
    assert qualifying
    delivered = kill_run.delivered()
    assert set(delivered) == qualifying
    # At least once across a kill: a repeat only of a row the dead worker was sending,
    # with the same idempotency key (one key per bar).
    keys_per_bar: dict[tuple[str, str, int], set[str]] = {}
    for payload in kill_run.signals:
        f = payload["fields"]
        keys_per_bar.setdefault((f["symbol"], f["timeframe"], _ns(_parse(f["bar_ts"]))), set()).add(
            payload["idempotency_key"]
        )
    assert all(len(k) == 1 for k in keys_per_bar.values())
