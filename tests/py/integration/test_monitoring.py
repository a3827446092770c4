"""The monitoring service end to end: ticks in, rules in the core, JSONL alerts out,
snapshots, retention, notifier forwarding. A fake ns clock and ``run_once`` make timing
exact; one test runs the real worker thread."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import montalaq
from montalaq.monitoring import MonitoringService
from montalaq.monitoring.alerts import Alert, AlertLog

T0 = 1_795_000_000 * 1_000_000_000
S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ns = T0

    def __call__(self) -> int:
        return self.ns

    def tick(self, seconds: float) -> None:
        self.ns += int(seconds * S)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _drain_native_log() -> Iterator[None]:
    # FIRING transitions are logged by the core; leave nothing in its buffer for the next test.
    yield
    montalaq.drain_native_logs()


def _svc(tmp_path: Path, clock: Clock, **kw: Any) -> MonitoringService:
    return MonitoringService(
        alerts_dir=tmp_path / "alerts", metrics_dir=tmp_path / "monitoring", clock=clock, **kw
    )


def _alerts(tmp_path: Path) -> list[Alert]:
    return AlertLog(tmp_path / "alerts").read()


HEALTHY: dict[str, dict[str, object]] = {
    "risk": {"circuit_breaker_active": False, "daily_loss_pct": 0.0, "max_position_value": 100_000.0},
    "sentiment": {"provider_errors_1h": 0},
    "artifacts": {"teacher_model_age_hours": 1.0, "student_model_age_hours": 1.0},
    "connectivity": {"broker_authenticated": True},
    "positions": {"total_value": 50_000.0, "count": 2},
}

# (rule, section, field, value that fires, value just short of it)
BUILTINS = [
    ("circuit_breaker_triggered", "risk", "circuit_breaker_active", True, False),
    ("sentiment_failures_high", "sentiment", "provider_errors_1h", 11, 10),
    ("stale_teacher_model", "artifacts", "teacher_model_age_hours", 24.5, 24.0),
    ("stale_student_model", "artifacts", "student_model_age_hours", 24.5, 24.0),
    ("connectivity_lost", "connectivity", "broker_authenticated", False, True),
    ("daily_loss_exceeded", "risk", "daily_loss_pct", 5.0, 4.99),
    ("position_limit_breached", "positions", "total_value", 100_000.01, 100_000.0),
]


def _with(section: str, field: str, value: Any) -> dict[str, Any]:
    m = {k: dict(v) for k, v in HEALTHY.items()}
    m[section][field] = value
    return m


@pytest.mark.parametrize(("rule", "section", "field", "fires", "short"), BUILTINS)
def test_each_builtin_rule_fires_at_its_threshold_and_not_short_of_it(
    tmp_path: Path, clock: Clock, rule: str, section: str, field: str, fires: Any, short: Any
) -> None:
    svc = _svc(tmp_path, clock)
    svc.record_tick(_with(section, field, short))
    svc.flush()
    assert [a.rule for a in _alerts(tmp_path)] == []
    clock.tick(1)
    svc.record_tick(_with(section, field, fires))
    svc.flush()
    [alert] = _alerts(tmp_path)
    assert (alert.rule, alert.state) == (rule, "FIRING")
    assert alert.severity in ("WARNING", "CRITICAL")


def test_heartbeat_lapses_when_ticks_stop_and_resolves_when_they_resume(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    svc.record_tick(HEALTHY)
    svc.flush()
    clock.tick(119)
    svc.run_once()
    assert _alerts(tmp_path) == []
    clock.tick(2)  # 121 s without a tick: the timer evaluation fires it
    svc.run_once()
    [lapsed] = _alerts(tmp_path)
    assert (lapsed.rule, lapsed.severity, lapsed.state) == ("heartbeat_lapsed", "CRITICAL", "FIRING")
    svc.record_tick(HEALTHY)
    svc.flush()
    assert [(a.rule, a.state) for a in _alerts(tmp_path)][-1] == ("heartbeat_lapsed", "RESOLVED")


def test_a_firing_rule_alerts_once_over_many_ticks_and_resolves_once(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    for _ in range(50):
        svc.record_tick(_with("risk", "daily_loss_pct", 7.0))
        clock.tick(1)
    for _ in range(50):
        svc.record_tick(HEALTHY)
        clock.tick(1)
    svc.flush()
    assert [(a.rule, a.state) for a in _alerts(tmp_path)] == [
        ("daily_loss_exceeded", "FIRING"),
        ("daily_loss_exceeded", "RESOLVED"),
    ]
    resolved = _alerts(tmp_path)[1]
    assert "resolved" in resolved.message
    assert resolved.context["state"] == "RESOLVED"


def test_a_user_rule_from_yaml_honours_its_for_duration(tmp_path: Path, clock: Clock) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: drawdown_warning\n"
        "    metric: risk.daily_loss_pct\n"
        "    op: '>='\n"
        "    threshold: 2.5\n"
        "    for_s: 60\n"
        "    severity: INFO\n"
        "    message: 'daily loss {value}% over {threshold}%'\n"
    )
    svc = _svc(tmp_path, clock, rules=rules)
    for _ in range(6):  # 50 s above the threshold: not yet
        svc.record_tick(_with("risk", "daily_loss_pct", 3.0))
        svc.flush()
        clock.tick(10)
    assert _alerts(tmp_path) == []
    svc.record_tick(_with("risk", "daily_loss_pct", 3.0))  # 60 s: fires
    svc.flush()
    [a] = _alerts(tmp_path)
    assert (a.rule, a.severity, a.message) == ("drawdown_warning", "INFO", "daily loss 3% over 2.5%")
    assert a.context["value"] == 3.0


@pytest.mark.parametrize(
    ("rules", "match"),
    [
        ([{"name": "x", "metric": "risk.daily_loss_pct", "op": "~", "threshold": 1}], "op"),
        ([{"name": "x", "metric": "risk.daily_loss_pct", "op": ">"}], "threshold"),
        ([{"name": "x", "metric": "", "op": ">", "threshold": 1}], "metric"),
        ([{"name": "x", "metric": "a.b", "op": ">", "threshold": 1, "severity": "LOUD"}], "severity"),
        ([{"name": "x", "metric": "a.b", "op": ">", "threshold": 1, "for_s": -1}], "for_s"),
        ([{"name": "x", "metric": "a.b", "op": ">", "threshold": 1, "colour": "red"}], "colour"),
        (
            [{"name": "daily_loss_exceeded", "metric": "a.b", "op": ">", "threshold": 1}],
            "daily_loss_exceeded",
        ),
        (["not a mapping"], r"rules\[0\]"),
        ({"rulez": []}, "rules"),
    ],
)
def test_bad_rule_definitions_are_rejected_with_a_clear_message(
    tmp_path: Path, clock: Clock, rules: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        _svc(tmp_path, clock, rules=rules)


def test_record_tick_never_raises_on_bad_input(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    for bad in ("nonsense", 42, {"risk": "x"}, {"risk": {"daily_loss_pct": "NaN?"}}, None, object()):
        svc.record_tick(bad)  # type: ignore[arg-type]
    svc.flush()
    assert svc.stats.ticks == 6
    assert svc.stats.bad_ticks == 3  # a str, an int and an object are not metrics


def test_a_broken_clock_does_not_reach_the_caller(tmp_path: Path) -> None:
    calls = {"n": 0}

    def clock() -> int:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("clock gone")
        return T0

    svc = MonitoringService(alerts_dir=tmp_path / "a", metrics_dir=tmp_path / "m", clock=clock)
    svc.record_tick(HEALTHY)  # must not raise
    assert svc.stats.bad_ticks == 1


def test_acknowledge_marks_the_firing_alert(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    svc.record_tick(_with("risk", "circuit_breaker_active", True))
    svc.flush()
    assert svc.acknowledge("circuit_breaker_triggered") is True
    svc.run_once()
    [a] = svc.active_alerts()
    assert a.acknowledged is True
    assert svc.rules.active()[0]["acknowledged"] is True
    assert svc.acknowledge("daily_loss_exceeded") is False


def test_a_restart_does_not_alert_again_for_a_rule_already_firing(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    svc.record_tick(_with("risk", "daily_loss_pct", 9.0))
    svc.flush()
    again = _svc(tmp_path, clock)
    clock.tick(1)
    again.record_tick(_with("risk", "daily_loss_pct", 9.0))
    again.flush()
    assert [a.state for a in _alerts(tmp_path)] == ["FIRING"]
    again.record_tick(HEALTHY)
    again.flush()
    assert [a.state for a in _alerts(tmp_path)] == ["FIRING", "RESOLVED"]


def test_snapshots_are_written_at_their_interval(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock, snapshot_interval_s=60)
    for i in range(180):
        svc.record_tick(_with("risk", "daily_loss_pct", i / 100))
        svc.flush()
        clock.tick(1)
    files = sorted((tmp_path / "monitoring").glob("metrics_*.json"))
    assert len(files) == 3
    doc = json.loads(files[-1].read_text())
    assert doc["metrics"]["risk"]["daily_loss_pct"] == pytest.approx(1.2)
    assert doc["flat"]["risk.daily_loss_pct"] == pytest.approx(1.2)
    rows = svc.aggregate(3600)
    m = rows[0]["metrics"]["risk.daily_loss_pct"]
    assert (m["count"], m["min"]) == (3, 0.0)
    assert math.isclose(m["max"], 1.2)


def test_old_alert_and_snapshot_files_are_pruned_on_the_first_pass(tmp_path: Path, clock: Clock) -> None:
    now = datetime.fromtimestamp(T0 / S, UTC)
    old_alerts = AlertLog(tmp_path / "alerts")
    old_alerts.append(Alert(now - timedelta(days=91), "INFO", "old", "x", {"state": "FIRING"}))
    old_alerts.append(Alert(now - timedelta(days=89), "INFO", "kept", "x", {"state": "FIRING"}))
    from montalaq.monitoring.history import MetricsHistory

    h = MetricsHistory(tmp_path / "monitoring")
    h.write(now - timedelta(days=31), {}, {"a": 1.0})
    h.write(now - timedelta(days=29), {}, {"a": 2.0})
    svc = _svc(tmp_path, clock)
    svc.run_once()
    assert [a.rule for a in _alerts(tmp_path)] == ["kept"]
    assert [s[1]["a"] for s in h.read()] == [2.0]


def test_alerts_are_forwarded_to_the_notifier(tmp_path: Path, http_receiver: Any) -> None:
    from montalaq.notify import Notifier, WebhookChannel
    from montalaq.store import Store

    store = Store(f"sqlite:///{tmp_path / 'n.db'}")
    notifier = Notifier(store, [WebhookChannel(http_receiver.url + "/hook")], poll_interval_s=0.02)
    svc = MonitoringService(alerts_dir=tmp_path / "alerts", metrics_dir=tmp_path / "m", notifier=notifier)
    with notifier, svc:
        svc.record_tick(_with("connectivity", "broker_authenticated", False))
        assert http_receiver.wait_for(1, 10.0)
    [req] = http_receiver.accepted()
    [alert] = _alerts(tmp_path)
    assert req.json["kind"] == "alert"
    assert req.json["title"] == "FIRING connectivity_lost"
    assert req.json["severity"] == "CRITICAL"
    assert req.headers["idempotency-key"] == f"alert-{alert.id}"
    store.close()


def test_the_worker_thread_processes_ticks_in_order(tmp_path: Path) -> None:
    with MonitoringService(alerts_dir=tmp_path / "alerts", metrics_dir=tmp_path / "m") as svc:
        for v in (1.0, 6.0, 6.0, 1.0, 6.0):
            svc.record_tick(_with("risk", "daily_loss_pct", v))
        assert svc.flush(10.0)
    assert [a.state for a in _alerts(tmp_path)] == ["FIRING", "RESOLVED", "FIRING"]


def test_a_full_queue_drops_the_oldest_ticks_and_counts_them(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock, max_queue=10)
    for _ in range(25):
        svc.record_tick(HEALTHY)
    assert svc.stats.dropped == 15
    svc.flush()
    assert svc.stats.processed == 10


# ------------------------------------------------------------------------------ the seed's forms


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [("risk", "daily_loss_pct", -6.0), ("pnl", "daily_loss_pct", -6.0)],
)
def test_a_daily_loss_given_as_a_negative_percentage_fires_the_loss_rule(
    tmp_path: Path, clock: Clock, section: str, field: str, value: float
) -> None:
    svc = _svc(tmp_path, clock)
    metrics = {k: dict(v) for k, v in HEALTHY.items()}
    if section == "pnl":
        del metrics["risk"]["daily_loss_pct"]
    metrics.setdefault(section, {})[field] = value
    svc.record_tick(metrics)
    svc.flush()
    [alert] = _alerts(tmp_path)
    assert (alert.rule, alert.state, alert.context["value"]) == ("daily_loss_exceeded", "FIRING", 6.0)
    assert svc.stats.unknown_metrics == 0


def test_a_gain_in_the_seed_pnl_form_fires_nothing(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    metrics = {k: dict(v) for k, v in HEALTHY.items()}
    del metrics["risk"]["daily_loss_pct"]
    metrics["pnl"] = {"daily_loss_pct": 7.5}
    svc.record_tick(metrics)
    svc.flush()
    assert _alerts(tmp_path) == []


def test_a_named_broker_session_field_is_the_broker_connectivity(tmp_path: Path, clock: Clock) -> None:
    svc = _svc(tmp_path, clock)
    metrics = {k: dict(v) for k, v in HEALTHY.items()}
    metrics["connectivity"] = {"breeze_authenticated": True, "kite_authenticated": True}
    svc.record_tick(metrics)
    clock.tick(1)
    metrics["connectivity"] = {"breeze_authenticated": False, "kite_authenticated": True}
    svc.record_tick(metrics)
    svc.flush()
    [alert] = _alerts(tmp_path)
    assert (alert.rule, alert.state) == ("connectivity_lost", "FIRING")
    assert svc.unknown_metrics == set()


def test_unknown_metric_names_are_counted_and_listed_never_ignored_silently(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    svc = _svc(tmp_path, clock, rules=[{"name": "lag", "metric": "feed.lag_s", "op": ">", "threshold": 5}])
    metrics = {k: dict(v) for k, v in HEALTHY.items()}
    metrics["risk"]["dialy_loss_pct"] = 9.0  # a typo
    metrics["feed"] = {"lag_s": 1.0}  # read by a user rule: known
    metrics["montalaq"] = {"cycle_seconds": 0.01}  # montalaq's own section: known
    for _ in range(3):
        svc.record_tick(metrics)
        clock.tick(1)
    svc.flush()
    assert svc.unknown_metrics == {"risk.dialy_loss_pct"}
    assert svc.stats.unknown_metrics == 3
    assert svc.status()["unknown_metrics"] == ["risk.dialy_loss_pct"]
    warned = [r for r in caplog.records if "dialy_loss_pct" in r.getMessage()]
    assert len(warned) == 1  # once per name
