"""The native alert-rule evaluator through its binding (montalaq._core.rules, docs/semantics.md, Monitoring):
dict shapes, list and numpy values, NaN as "missing", ValueError naming the field, enum
names, and state snapshots. Behaviour in depth is pinned by tests/cpp/test_rules.cpp."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest

from montalaq import _core

rules = _core.rules

SEC = 1_000_000_000
T0 = 1_767_225_600 * SEC
QUIET = {
    "risk.circuit_breaker_active": 0.0,
    "sentiment.provider_errors_1h": 0.0,
    "artifacts.teacher_model_age_hours": 1.0,
    "artifacts.student_model_age_hours": 1.0,
    "heartbeat.age_seconds": 1.0,
    "connectivity.broker_authenticated": 1.0,
    "risk.daily_loss_pct": 0.0,
    "positions.total_value": 0.0,
    "risk.max_position_value": 1000.0,
}
EVENT_KEYS = {"rule", "severity", "state", "value", "threshold", "since_ns", "at_ns", "message", "metric"}
ALERT_KEYS = {"rule", "severity", "since_ns", "fired_at_ns", "value", "acknowledged", "message"}


@pytest.fixture(autouse=True)
def _drain_alert_logs() -> Iterator[None]:
    """FIRING records of WARNING/CRITICAL rules reach the native log buffer at the default
    level; drain them so they do not show up in another test's captured logs."""
    yield
    _core.logging.drain()


def builtin_engine(**thresholds: float) -> rules.RuleEngine:
    engine = rules.RuleEngine()
    engine.add_rules_json(rules.builtin_rules_json(rules.BuiltinThresholds(**thresholds)))
    return engine


def values(engine: rules.RuleEngine, **changes: float) -> np.ndarray:
    snapshot = dict(QUIET)
    snapshot.update({k.replace("__", "."): v for k, v in changes.items()})
    return np.array([snapshot.get(path, math.nan) for path in engine.paths()], dtype=np.float64)


def test_builtin_fires_once_and_resolves_once_as_dicts() -> None:
    engine = builtin_engine()
    assert engine.rule_count == 8
    assert engine.evaluate(T0, values(engine)) == []
    lapsed = values(engine, heartbeat__age_seconds=500.0)
    (fired,) = engine.evaluate(T0 + SEC, lapsed)
    assert set(fired) == EVENT_KEYS
    assert fired["rule"] == "heartbeat_lapsed"
    assert fired["severity"] == "CRITICAL"
    assert fired["state"] == "FIRING"
    assert (fired["value"], fired["threshold"]) == (500.0, 120.0)
    assert fired["since_ns"] == fired["at_ns"] == T0 + SEC
    assert fired["metric"] == "heartbeat.age_seconds"
    assert fired["message"] == "No engine heartbeat for 500 s (limit 120 s)"
    for i in range(2, 50):
        assert engine.evaluate(T0 + i * SEC, lapsed) == []
    (resolved,) = engine.evaluate(T0 + 50 * SEC, values(engine))
    assert resolved["state"] == "RESOLVED"
    assert resolved["since_ns"] == T0 + SEC
    assert engine.evaluations == 51


def test_values_may_be_a_list_and_nan_or_none_means_missing() -> None:
    engine = builtin_engine()
    lapsed = [float(x) for x in values(engine, heartbeat__age_seconds=500.0)]
    assert [e["rule"] for e in engine.evaluate(T0, lapsed)] == ["heartbeat_lapsed"]
    assert engine.evaluate(T0 + SEC, [math.nan] * len(lapsed)) == []
    # None on purpose (the stub says ArrayLike of float): numpy turns it into NaN
    assert engine.evaluate(T0 + 2 * SEC, [None] * len(lapsed)) == []  # type: ignore[arg-type]
    (alert,) = engine.active()
    assert set(alert) == ALERT_KEYS
    assert alert["value"] == 500.0


def test_threshold_metric_and_an_infinite_value_leave_as_none() -> None:
    engine = builtin_engine()
    (event,) = engine.evaluate(T0, values(engine, positions__total_value=math.inf))
    assert event["rule"] == "position_limit_breached"
    assert event["severity"] == "WARNING"
    assert event["value"] is None  # docs/semantics.md, Time values in Python: never Infinity
    assert event["threshold"] == 1000.0


def test_user_rules_json_round_trips_and_for_is_honoured() -> None:
    engine = rules.RuleEngine()
    engine.add_rules_json(
        json.dumps([{"name": "cpu", "metric": "host.cpu", "op": "gt", "threshold": 90, "for_s": 60}])
    )
    assert engine.paths() == ["host.cpu"]
    assert engine.slot("host.cpu") == 0
    assert engine.slot("host.mem") is None
    (rule,) = json.loads(engine.rules_json())
    assert rule == {
        "name": "cpu",
        "metric": "host.cpu",
        "op": ">",
        "threshold": 90.0,
        "for_s": 60.0,
        "severity": "WARNING",
        "message": "{rule}: {metric} = {value} (threshold {threshold})",
    }
    assert engine.evaluate(T0, [95.0]) == []
    assert engine.evaluate(T0 + 60 * SEC - 1, [95.0]) == []
    (event,) = engine.evaluate(T0 + 60 * SEC, [95.0])
    assert event["message"] == "cpu: host.cpu = 95 (threshold 90)"


@pytest.mark.parametrize(
    ("doc", "needles"),
    [
        ('[{"name": "x", "metric": "a.b", "op": "~", "threshold": 1}]', ["rules[0]", "'x'", "op", ">="]),
        ('[{"name": "x", "metric": "a..b", "op": ">", "threshold": 1}]', ["rules[0]", "metric"]),
        ('[{"name": "x", "metric": "a.b", "op": ">"}]', ["threshold"]),
        (
            '[{"name": "x", "metric": "a.b", "op": ">", "threshold": 1, "severity": "FATAL"}]',
            ["severity", "CRITICAL"],
        ),
        ('[{"name": "x", "metric": "a.b", "op": ">", "threshold": 1, "for": 5}]', ["unknown key 'for'"]),
        ("{}", ["JSON array"]),
        ("[", ["not valid JSON"]),
    ],
)
def test_bad_rules_documents_raise_value_error_naming_the_field(doc: str, needles: list[str]) -> None:
    engine = builtin_engine()
    before = engine.rules_json()
    with pytest.raises(ValueError, match="rules document") as info:
        engine.add_rules_json(doc)
    for needle in needles:
        assert needle in str(info.value)
    assert engine.rules_json() == before


def test_misuse_raises_value_error() -> None:
    engine = builtin_engine()
    with pytest.raises(ValueError, match="values: expected 9 values"):
        engine.evaluate(T0, [1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        engine.evaluate(T0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="'nope' is not a rule"):
        engine.acknowledge("nope", T0)
    with pytest.raises(ValueError, match="heartbeat_max_age_s"):
        rules.BuiltinThresholds(heartbeat_max_age_s=-1.0)
    with pytest.raises(TypeError):
        rules.BuiltinThresholds(10.0)  # type: ignore[call-arg]  # keyword-only
    t = rules.BuiltinThresholds(daily_loss_max_pct=3.0)
    with pytest.raises(ValueError, match="daily_loss_max_pct"):
        t.daily_loss_max_pct = math.nan
    assert t.daily_loss_max_pct == 3.0  # the refused value was not kept


def test_acknowledge_and_state_round_trip() -> None:
    engine = builtin_engine()
    assert engine.acknowledge("connectivity_lost", T0) is False
    engine.evaluate(T0, values(engine, connectivity__broker_authenticated=0.0))
    assert engine.acknowledge("connectivity_lost", T0 + SEC) is True
    (alert,) = engine.active()
    assert alert["acknowledged"] is True
    assert alert["severity"] == "CRITICAL"
    state = engine.state_json()
    copy = builtin_engine()
    copy.load_state_json(state)
    assert copy.state_json() == state
    assert copy.active() == engine.active()
    bad = json.loads(state)
    bad["rules"][0]["name"] = "ghost"
    with pytest.raises(ValueError, match="not a rule of this engine"):
        copy.load_state_json(json.dumps(bad))
    assert copy.state_json() == state


def test_enum_names() -> None:
    assert list(rules.Severity.__members__) == ["INFO", "WARNING", "CRITICAL"]
    assert list(rules.Comparison.__members__) == ["GT", "GE", "LT", "LE", "EQ", "NE"]
    assert rules.Severity.CRITICAL.name == "CRITICAL"
