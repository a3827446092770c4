"""One time convention (issue 17; docs/semantics.md, "Time values in Python"): every public
call that takes a time takes ``now`` -- int ns, an aware datetime, numpy.datetime64 or None --
and gives the same answer for each form; the old ``now_ns``/``now_s`` keywords still work,
warn at the caller, and cannot be combined with ``now``; a bad ``now`` names ``now``.
DedupeCache and RateLimiter have the same tests in test_dedupe.py and test_ratelimit.py, the
Redis twins, the shared breaker, the service and the LLM analyst in tests/py/integration."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from montalaq import CircuitBreaker, Colour, Freshness, MarketEngine, OperationalState, OpState
from montalaq._time import now_arg
from montalaq.agents import AgentContext, AgentRegistry
from montalaq.monitoring import RuleSet, flatten
from montalaq.settings import Settings

SEC = 1_000_000_000
T0 = 1_767_225_600 * SEC  # 2026-01-01T00:00:00Z
T0_S = 1_767_225_600.0

# T0 five ways.
FORMS = {
    "int": T0,
    "utc": datetime(2026, 1, 1, tzinfo=UTC),
    "plus1h": datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    "datetime64": np.datetime64(T0, "ns"),
    "timestamp": pd.Timestamp(T0, tz="UTC"),
}
# (value, exception, message): what no `now` accepts.
BAD = {
    "float": (T0_S, TypeError, r"^now: .*got float .* cannot be told apart from seconds"),
    "nan": (float("nan"), TypeError, "^now: .*got float nan"),
    "bool": (True, TypeError, "^now: .*bool"),
    "str": ("2026-01-01", TypeError, "^now: expected int nanoseconds"),
    "naive": (datetime(2026, 1, 1), ValueError, "^now: naive datetime"),
    "nat": (np.datetime64("NaT"), ValueError, "^now: NaT"),
    "pandas_nat": (pd.NaT, ValueError, "^now: NaT"),
}


def open_breaker() -> CircuitBreaker:
    """Opened 60 s before T0 (cooldown 120 s): its answers at T0 depend on the time."""
    cb = CircuitBreaker("t", failure_threshold=1, cooldown_s=120)
    cb.record_failure(T0 - 60 * SEC)
    return cb


def half_open_breaker() -> CircuitBreaker:
    cb = CircuitBreaker("t", failure_threshold=1, cooldown_s=120)
    cb.record_failure(T0 - 200 * SEC)
    return cb


def last_transition(cb: CircuitBreaker) -> tuple[str, int]:
    h = cb.history()[-1]
    return str(h["to"]), int(h["at_ns"])


def engine_with_a_trade() -> MarketEngine:
    engine = MarketEngine(("1m",))
    engine.on_trade("S", T0 - 90 * SEC, 10.0, 1.0)
    return engine


def registry_run_at(at: int) -> AgentRegistry:
    registry = AgentRegistry()
    registry.register("a", lambda ctx: None, interval_s=60)
    registry.run("a", AgentContext(symbol="S", now_ns=at, settings=Settings()))
    return registry


LOSS_RULE = [{"name": "loss", "metric": "risk.daily_loss_pct", "op": ">", "threshold": 1}]


def fired(rules: RuleSet) -> RuleSet:
    rules.evaluate(T0 - 10 * SEC, {"risk.daily_loss_pct": 5.0})
    return rules


# name -> (make the object, call it with a time the way a user would, the old keyword).
# Each call's answer at T0 depends on the time, so a form read wrongly gives another answer.
Call = Callable[..., Any]
CALLS: dict[str, tuple[Callable[[], Any], Call, str]] = {
    "CircuitBreaker.allow": (open_breaker, lambda o, *a, **k: o.allow(*a, **k), "now_ns"),
    "CircuitBreaker.state": (open_breaker, lambda o, *a, **k: o.state(*a, **k), "now_ns"),
    "CircuitBreaker.retry_after_ns": (open_breaker, lambda o, *a, **k: o.retry_after_ns(*a, **k), "now_ns"),
    "CircuitBreaker.counts": (
        lambda: CircuitBreaker("t", failure_threshold=9, window_s=60),
        lambda o, *a, **k: (o.record_failure(T0 - 59 * SEC), o.counts(*a, **k)["window_failures"]),
        "now_ns",
    ),
    "CircuitBreaker.record_failure": (
        lambda: CircuitBreaker("t", failure_threshold=1),
        lambda o, *a, **k: (o.record_failure(*a, **k), last_transition(o)),
        "now_ns",
    ),
    "CircuitBreaker.record_success": (
        half_open_breaker,
        lambda o, *a, **k: (o.allow(T0 - SEC), o.record_success(*a, **k), last_transition(o)),
        "now_ns",
    ),
    "CircuitBreaker.force_open": (
        open_breaker,
        lambda o, *a, **k: (o.force_open(*a, **k), last_transition(o)),
        "now_ns",
    ),
    "CircuitBreaker.disable": (
        open_breaker,
        lambda o, *a, **k: (o.disable(*a, **k), last_transition(o)),
        "now_ns",
    ),
    "CircuitBreaker.reset": (
        open_breaker,
        lambda o, *a, **k: (o.reset(*a, **k), last_transition(o)),
        "now_ns",
    ),
    "OperationalState.transition": (
        lambda: OperationalState(T0 - SEC),
        lambda o, *a, **k: (o.transition(OpState.ACTIVE, *a, **k), o.entered_at_ns),
        "now_ns",
    ),
    "MarketEngine.advance_time": (
        engine_with_a_trade,
        lambda o, *a, **k: [b.start_ns for b in o.advance_time(*a, **k)],
        "now_ns",
    ),
    "RuleSet.evaluate": (
        lambda: RuleSet(LOSS_RULE, builtin=False),
        lambda o, *a, **k: [e["at_ns"] for e in o.evaluate(*a, flat={"risk.daily_loss_pct": 5.0}, **k)],
        "now_ns",
    ),
    "RuleSet.acknowledge": (
        lambda: fired(RuleSet(LOSS_RULE, builtin=False)),
        lambda o, *a, **k: (o.acknowledge("loss", *a, **k), o.active()[0]["acknowledged"]),
        "now_ns",
    ),
    "AgentRegistry.due": (
        lambda: registry_run_at(T0 - 60 * SEC),
        lambda o, *a, **k: o.due(*a, **k),
        "now_ns",
    ),
    "flatten": (
        lambda: {"heartbeat": {"last_tick": datetime(2025, 12, 31, 23, 59, 50, tzinfo=UTC)}},
        lambda o, *a, **k: flatten(o, *a, **k)["heartbeat.age_seconds"],
        "now_s",
    ),
}
# What each call answers at T0 (so the forms agree on the right answer, not on any answer).
AT_T0: dict[str, object] = {
    "CircuitBreaker.allow": False,
    "CircuitBreaker.state": "OPEN",
    "CircuitBreaker.retry_after_ns": 60 * SEC,
    "CircuitBreaker.counts": (None, 1),
    "CircuitBreaker.record_failure": (None, ("OPEN", T0)),
    "CircuitBreaker.record_success": (True, None, ("CLOSED", T0)),
    "CircuitBreaker.force_open": (None, ("FORCED_OPEN", T0)),
    "CircuitBreaker.disable": (None, ("DISABLED", T0)),
    "CircuitBreaker.reset": (None, ("CLOSED", T0)),
    "OperationalState.transition": (True, T0),
    "MarketEngine.advance_time": [T0 - 120 * SEC],
    "RuleSet.evaluate": [T0],
    "RuleSet.acknowledge": (True, True),
    "AgentRegistry.due": ["a"],
    "flatten": 10.0,
}
OLD_VALUE = {"now_ns": T0, "now_s": T0_S}


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    make, fn, _ = CALLS[name]
    return fn(make(), *args, **kwargs)


def answer(name: str, result: Any) -> Any:
    """The part of a result that depends on the time (a state's name, not the enum)."""
    return getattr(result, "name", result)


def test_every_call_has_its_answer_at_t0() -> None:
    assert set(AT_T0) == set(CALLS)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("name", list(CALLS))
def test_now_by_position_and_by_keyword_in_every_form_gives_the_answer_at_t0(name: str, form: str) -> None:
    want = AT_T0[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        assert answer(name, call(name, FORMS[form])) == want
        assert answer(name, call(name, now=FORMS[form])) == want


@pytest.mark.parametrize("name", list(CALLS))
def test_the_old_keyword_still_works_and_warns_at_the_caller(name: str) -> None:
    old = CALLS[name][2]
    want = answer(name, call(name, T0))
    with pytest.warns(DeprecationWarning, match=rf"^{old} is deprecated, pass now= \(int ns") as record:
        assert answer(name, call(name, **{old: OLD_VALUE[old]})) == want
    assert [w.filename for w in record] == [__file__]  # this file's lambda made the call


@pytest.mark.parametrize("name", list(CALLS))
def test_now_and_the_old_keyword_together_are_a_type_error(name: str) -> None:
    old = CALLS[name][2]
    with pytest.raises(TypeError, match=f"pass now= or {old}=, not both"):
        call(name, T0, **{old: OLD_VALUE[old]})


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("name", list(CALLS))
def test_a_bad_now_is_refused_naming_now(name: str, bad: str) -> None:
    value, exc, match = BAD[bad]
    with pytest.raises(exc, match=match):
        call(name, value)


def test_none_is_the_wall_clock() -> None:
    fresh = Freshness()
    assert fresh.colour("1m", None, time.time_ns() - 10 * SEC) == Colour.GREEN
    assert fresh.colour("1m", FORMS["utc"], T0 - 10 * SEC) == Colour.GREEN
    assert fresh.colour("1m", None, 1_000_000_000 * SEC) == Colour.RED  # 2001: long gone
    cb = CircuitBreaker("t", failure_threshold=1, cooldown_s=120)
    cb.record_failure(None)
    assert cb.state() == cb.state(None) == cb.state(now=None)
    assert 119 * SEC < (cb.retry_after_ns(now=None) or 0) <= 120 * SEC
    assert flatten({"heartbeat": {"last_tick": datetime.now(UTC)}})["heartbeat.age_seconds"] < 60


def test_now_arg_keeps_none_and_converts_the_rest() -> None:
    assert now_arg(None) is None
    assert {now_arg(v) for v in FORMS.values()} == {T0}
    with pytest.raises(TypeError, match=r"^when: .*got float"):
        now_arg(1.5, "when")
