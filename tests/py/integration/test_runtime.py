"""The running service as an operator sees it: each cycle's metrics through monitoring
(alerts once, resolved once, on /api/alerts), channel outages and their one recovery
message, the error log's episodes, the board and the error throttle surviving a restart,
and the operator views (/api/health/snapshot, /api/errors/summary, /metrics). Real SQLite,
a real loopback HTTP receiver, the bundled SPY day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fixtures import client, client_for
from test_service import ENV, HOLE_END, HOLE_START, NS, T1330, replay, with_hole

import montalaq
from montalaq.api import create_router, models
from montalaq.health import BreakerState
from montalaq.monitoring import MonitoringService
from montalaq.monitoring.alerts import AlertLog
from montalaq.notify import Notifier, WebhookChannel
from montalaq.ops import SERVICE_RULES, health_snapshot
from montalaq.retry import RetryPolicy
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store
from montalaq.throttle import ThrottleDecision
from receivers import HttpReceiver


class Now:
    """The test's clock, int ns: the service's cycles, the monitoring and the notifier."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


@pytest.fixture(autouse=True)
def _drain_native_log() -> Iterator[None]:
    # FIRING transitions are logged by the core; leave nothing in its buffer for the next test.
    yield
    montalaq.drain_native_logs()


@pytest.fixture(scope="module")
def spy() -> montalaq.Trades:
    return montalaq.read_trades(montalaq.sample_path("spy"))


def drive(service: Service, now: Now, start: int, end: int, every_s: int = 30) -> None:
    for t in range(start, end + 1, every_s * NS):
        now.ns = t
        service.step(t)
        if service.notifier is not None:
            service.notifier.deliver_once()


def monitoring(tmp_path: Path, now: Now) -> MonitoringService:
    return MonitoringService(
        alerts_dir=tmp_path / "alerts",
        metrics_dir=tmp_path / "monitoring",
        clock=now,
        extra_rules=SERVICE_RULES,
    )


# ------------------------------------------------------------------------------ monitoring wired


def test_a_gap_alerts_once_in_the_log_and_the_api_and_resolves_once(
    spy: montalaq.Trades, tmp_path: Path
) -> None:
    now = Now(T1330)
    mon = monitoring(tmp_path, now)
    with Store(f"sqlite:///{tmp_path / 'gap.db'}") as store:
        service = Service(
            Settings.from_env(ENV),
            store=store,
            providers={"SPY": replay(with_hole(spy, HOLE_START, HOLE_END))},
            monitoring=mon,
        )
        drive(service, now, T1330 + 30 * NS, HOLE_END + 10 * 60 * NS)
        assert mon.flush()
        stale = [(a.rule, a.state) for a in AlertLog(tmp_path / "alerts").read() if a.rule == "feed_stale"]
        assert stale == [("feed_stale", "FIRING"), ("feed_stale", "RESOLVED")]
        api = client_for(service)
        body = api.get("/api/alerts").json()
        assert body["enabled"] is True
        recent = [(a["rule"], a["context"]["state"]) for a in body["recent"] if a["rule"] == "feed_stale"]
        assert recent == [("feed_stale", "RESOLVED"), ("feed_stale", "FIRING")]  # newest first
        # The breaker of the stale 1m pair is still open: its alert is active, and can be acknowledged.
        active = {a["rule"]: a for a in body["active"]}
        assert "pair_breaker_open" in active
        assert api.post("/api/alerts/pair_breaker_open/ack").status_code == 401  # the token first
        ack = api.post(
            "/api/alerts/pair_breaker_open/ack", headers={"Authorization": "Bearer test-token-1234"}
        )
        assert ack.json() == {"id": "pair_breaker_open", "acknowledged": True}
        assert api.get("/api/alerts").json()["active"][0]["acknowledged"] is True
        unknown = api.post("/api/alerts/nope/ack", headers={"Authorization": "Bearer test-token-1234"})
        assert unknown.status_code == 404
        assert "nope" in unknown.json()["detail"]


def test_each_cycle_records_freshness_lag_breakers_and_the_state(
    spy: montalaq.Trades, tmp_path: Path
) -> None:
    now = Now(T1330)
    mon = monitoring(tmp_path, now)
    with Store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)}, monitoring=mon)
        service.add_metrics_source(
            lambda: {"positions": {"count": 3}, "connectivity": {"breeze_authenticated": True}}
        )
        drive(service, now, T1330 + 30 * NS, T1330 + 5 * 60 * NS)
        assert mon.flush()
        assert mon.stats.processed == 10  # one tick per cycle
        flat = mon._last_flat
        assert flat["montalaq.state"] == 1.0  # ACTIVE
        assert flat["montalaq.pairs"] == 3.0
        assert flat["montalaq.pair_breakers_open"] == 0.0
        assert 0.0 <= flat["pairs.SPY:1m.lag_s"] < 30.0
        assert flat["pairs.SPY:1m.freshness"] == 0.0
        assert flat["montalaq.cycle_seconds"] > 0.0
        assert flat["positions.count"] == 3.0  # the host's source
        assert flat["connectivity.broker_authenticated"] == 1.0
        assert mon.unknown_metrics == set()


# ------------------------------------------------------------------------------ channels recover


def test_a_channel_outage_opens_its_breaker_and_recovers_with_one_message(
    spy: montalaq.Trades, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    now = Now(T1330 + 30 * NS)
    with Store(f"sqlite:///{tmp_path / 'ch.db'}") as store:
        notifier = Notifier(
            store,
            [WebhookChannel(http_receiver.url + "/hook")],
            clock=now,
            breaker_failures=3,
            breaker_cooldown_s=30,
            retry=RetryPolicy(base_s=0.001, jitter=0.0, max_delay_s=0.001),
        )
        service = Service(
            Settings.from_env(ENV), store=store, notifier=notifier, providers={"SPY": replay(spy)}
        )
        api = client_for(service)
        http_receiver.set_response(500)
        for i in range(5):
            notifier.notify("alert", f"event {i}")
        notifier.deliver_once()
        assert notifier.breakers["webhook"].state(now.ns) == BreakerState.OPEN
        service.step(now.ns)
        [channel] = health_snapshot(service)["circuits"]["channels"]
        assert (channel["channel"], channel["state"]) == ("webhook", "OPEN")
        body = api.get("/api/health/snapshot").text
        assert json.loads(body)["circuits"]["channels"][0]["state"] == "OPEN"
        # The channel's breaker counts as the schema describes them (the BreakerCounts record).
        models.HealthSnapshot.model_validate_json(body, strict=True)
        assert (
            'montalaq_channel_breaker_state{channel="webhook",state="OPEN"} 1.0' in api.get("/metrics").text
        )
        [row] = [r for r in store.error_summary() if r["error_type"] == "CHANNEL_WEBHOOK"]
        assert row["is_resolved"] is False
        # The error digest goes out after its aggregation window (held while the channel is down).
        drive(service, now, now.ns + 61 * NS, now.ns + 61 * NS)
        http_receiver.set_response(200)
        drive(service, now, now.ns + 31 * NS, now.ns + 31 * NS + 90 * NS)
        assert notifier.breakers["webhook"].state(now.ns) == BreakerState.CLOSED
        recoveries = [r.json for r in http_receiver.accepted() if r.json["kind"] == "recovery"]
        assert [r["fields"]["error_type"] for r in recoveries] == ["CHANNEL_WEBHOOK"]
        [row] = [r for r in store.error_summary() if r["error_type"] == "CHANNEL_WEBHOOK"]
        assert row["is_resolved"] is True
        assert row["resolved_at"] is not None
        assert row["notification_count"] == 2  # the digest and the recovery
        summary = api.get("/api/errors/summary").json()
        assert [e["error_type"] for e in summary["errors"]] == ["CHANNEL_WEBHOOK"]
        assert summary["open"] == 0


def test_a_provider_that_recovers_resolves_its_error_once(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    from montalaq.feeds import TradeBatch

    class Flaky:
        name = "Flaky"
        symbols = ("SPY",)

        def __init__(self) -> None:
            self.fail = True

        def trades(self) -> Any:
            return iter(())

        def take_until(self, until_ns: int) -> list[TradeBatch]:
            if self.fail:
                raise ConnectionError("feed reset")
            return []

    now = Now(T1330)
    feed = Flaky()
    with Store(f"sqlite:///{tmp_path / 'p.db'}") as store:
        notifier = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], clock=now)
        service = Service(Settings.from_env(ENV), store=store, notifier=notifier, providers={"SPY": feed})
        drive(service, now, T1330, T1330 + 90 * NS)  # the error digest goes out after 60 s
        feed.fail = False
        drive(service, now, T1330 + 120 * NS, T1330 + 240 * NS)
        kinds = [(r.json["kind"], r.json["fields"].get("error_type")) for r in http_receiver.accepted()]
        assert kinds.count(("recovery", "PROVIDER_DISCONNECTED")) == 1
        [row] = store.error_episodes(error_type="PROVIDER_DISCONNECTED")
        assert row["is_resolved"] is True
        assert row["occurrence_count"] == 4  # every failing cycle counted on the one episode


# ------------------------------------------------------------------------------ restarts


def test_a_restart_keeps_open_breakers_streaks_and_last_errors(spy: montalaq.Trades, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    now = Now(T1330)
    with Store(db) as store:
        first = Service(
            Settings.from_env(ENV),
            store=store,
            providers={"SPY": replay(with_hole(spy, HOLE_START, HOLE_END))},
        )
        drive(first, now, T1330 + 30 * NS, HOLE_END - 30 * NS)
        before = {(r["symbol"], r["timeframe"]): r for r in first.board.pairs(now.ns)}
        assert before[("SPY", "1m")]["breaker_open"]
        assert first.save_state() is True
    with Store(db) as store:
        second = Service(Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)})
        assert second.restore_state() is True
        after = {(r["symbol"], r["timeframe"]): r for r in second.board.pairs(now.ns)}
        for key in before:
            for field in ("breaker_open", "escalation_level", "red_streak", "amber_streak", "error_streak"):
                assert after[key][field] == before[key][field], (key, field)
        assert second.last_error_code("SPY", "1m") == "FRESHNESS_THRESHOLD_EXCEEDED"
        assert second.restore_state() is True  # idempotent


def test_a_damaged_snapshot_leaves_the_fresh_board(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'bad.db'}") as store:
        store.save_service_state("board", '{"format": 1, "board": "{not json"}')
        service = Service(Settings.from_env(ENV), store=store, providers={})
        assert service.restore_state() is False
        assert not any(r["breaker_open"] for r in service.board.pairs(T1330))


def test_the_error_throttle_remembers_its_windows_across_a_restart(tmp_path: Path) -> None:
    now = Now(T1330)
    db = f"sqlite:///{tmp_path / 'throttle.db'}"
    with Store(db) as store:
        first = Notifier(store, [WebhookChannel("http://127.0.0.1:9/hook")], clock=now, dry_run=True)
        assert first.report_error("PROVIDER_DISCONNECTED", "reset") == ThrottleDecision.NOTIFY
    now.ns += 600 * NS  # inside the type's 3600 s window
    with Store(db) as store:
        second = Notifier(store, [WebhookChannel("http://127.0.0.1:9/hook")], clock=now, dry_run=True)
        assert second.report_error("PROVIDER_DISCONNECTED", "reset") == ThrottleDecision.SUPPRESSED
        [row] = store.error_episodes()
        assert row["occurrence_count"] == 2


# ------------------------------------------------------------------------------ /metrics


def test_metrics_follow_prometheus_conventions_and_merge_into_the_hosts_registry(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    with Store(f"sqlite:///{tmp_path / 'metrics.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={})
        service.step(T1330)
        api = client_for(service)
        assert api.get("/health").status_code == 200
        text = api.get("/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert "_created" not in text
        assert families["montalaq_build_info"].samples[0].labels["version"] == montalaq.__version__
        assert "process_cpu_seconds" in families  # this process
        states = {s.labels["state"]: s.value for s in families["montalaq_operational_state"].samples}
        assert states == {"STARTING": 0, "ACTIVE": 1, "WAITING": 0, "ERROR": 0, "SHUTDOWN": 0}
        hist = families["montalaq_http_request_duration_seconds"]
        health = [s for s in hist.samples if s.labels.get("route") == "/health"]
        assert {s.name for s in health} == {
            "montalaq_http_request_duration_seconds_bucket",
            "montalaq_http_request_duration_seconds_count",
            "montalaq_http_request_duration_seconds_sum",
        }
        assert next(s for s in health if s.labels.get("le") == "+Inf").value == 1.0
        # A host app with its own /metrics takes montalaq's families into its registry.
        host = CollectorRegistry()
        mounted = create_router(service, token="t")
        mounted.metrics.register_into(host)
        merged = generate_latest(host).decode()
        assert "montalaq_operational_state" in merged
        assert "montalaq_build_info" in merged
        assert "process_cpu_seconds_total" not in merged  # the host's registry has its own


def test_an_app_without_the_scheduler_is_ready_once_its_checks_pass(tmp_path: Path) -> None:
    """A web process that serves the API while another process runs the scheduler: its
    readiness comes from the start-up checks, not STARTING forever."""
    import time

    from montalaq.api import create_app

    with Store(f"sqlite:///{tmp_path / 'web.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={})
        with client(create_app(service=service, run_scheduler=False)) as api:
            deadline = time.monotonic() + 10
            body = api.get("/health").json()
            while body["state"] != "ACTIVE" and time.monotonic() < deadline:
                time.sleep(0.05)
                body = api.get("/health").json()
            assert body["state"] == "ACTIVE"
            assert service.stats.cycles == 0  # no cycle ran here


# ------------------------------------------------------------------------------ no scheduler here


def test_an_app_without_the_scheduler_says_so_and_shows_its_pairs_unknown_not_red(tmp_path: Path) -> None:
    """Issue 16: a web process beside the scheduler's process showed every pair RED (its own
    board, never evaluated) while `montalaq status` showed GREEN."""
    from prometheus_client.parser import text_string_to_metric_families

    from montalaq.api import create_app, models

    with Store(f"sqlite:///{tmp_path / 'web.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={})
        with client(create_app(service=service, run_scheduler=False)) as api:
            health = api.get("/health").json()
            models.Health.model_validate(health)  # the schema documents the new field and value
            scheduler = health["scheduler"]
            assert (scheduler["running"], scheduler["market_data"]) == (False, False)
            assert scheduler["reason"].startswith(
                "this process runs no scheduler (create_app(run_scheduler=False)): no pair is evaluated here"
            )
            status = api.get("/api/ingestion/status").json()
            models.IngestionStatus.model_validate(status)
            assert {(p["timeframe"], p["freshness"]) for p in status["pairs"]} == {
                ("1m", "UNKNOWN"),
                ("5m", "UNKNOWN"),
                ("15m", "UNKNOWN"),
            }
            assert status["providers_summary"]["none"] == {
                "pairs": 3,
                "green": 0,
                "amber": 0,
                "red": 0,
                "closed": 0,
                "unknown": 3,
                "breakers_open": 0,
            }
            families = {f.name: f for f in text_string_to_metric_families(api.get("/metrics").text)}
            assert families["montalaq_pair_freshness"].samples == []  # absent: not RED
            assert 'id="no-scheduler"' in api.get("/").text  # the dashboard's note


def test_a_process_that_steps_its_service_has_market_data_of_its_own(
    tmp_path: Path, spy: montalaq.Trades
) -> None:
    with Store(f"sqlite:///{tmp_path / 'own.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={"SPY": replay(spy)})
        assert service.scheduler_status() == {
            "running": False,
            "market_data": False,
            "reason": "this process runs no scheduler (it was never started here): no pair is evaluated "
            "here, so they show UNKNOWN, and the tiles and bars stay empty; the analyses, findings and "
            "alerts are those the scheduler's process writes (montalaq serve, manage.py montalaq_run or "
            "the Celery tasks), and `montalaq status` shows its pairs",
        }
        service.step(T1330 + 60 * NS)
        assert service.health()["scheduler"] == {"running": False, "market_data": True, "reason": None}
        # Evaluated now: a pair is its colour, the quiet 15m one too (RED is RED once evaluated).
        assert "UNKNOWN" not in {p["freshness"] for p in service.ingestion_status()["pairs"]}
