"""A board with state in every field and a deterministic driver, shared by the board's JSON
and binary snapshot tests (tests/py/unit/test_health_board_json.py, test_health_board_bytes.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from montalaq import EscalationBoard, Freshness

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC
HOUR = 3600 * SEC
# A small market calendar (the board takes any sessions; real ones come from
# montalaq.calendars): closed from T0 - 2 h to T0 + 1 h, so its pair is CLOSED throughout.
TEST_SESSIONS = (
    np.array([T0 - 10 * HOUR, T0 + HOUR], dtype=np.int64),
    np.array([T0 - 2 * HOUR, T0 + 2 * HOUR], dtype=np.int64),
)


def rich_board() -> tuple[EscalationBoard, int]:
    """A board with non-default config, overrides, and pairs in many states; returns (board, now)."""
    b = EscalationBoard(
        Freshness(amber_mult=1.25, red_mult=2.5, overrides={"5m": (100, 200), "1h": (1000.5, 3000)}),
        auto_close_cycles=3,
        critical_red_streak=4,
        error_fails=4,
        warn_amber_streak=3,
        warn_fails=2,
        breaker_red_streak=3,
        breaker_error_streak=4,
        fail_window_s=240,
        max_failures_kept=50,
    )
    b.add_pairs(["A", "B", "C"], ["1m", "5m"])
    b.add_pair("D", "1h")
    b._add_pair("F", 60 * SEC, b._set_calendar("XTST", *TEST_SESSIONS))  # CLOSED
    now = T0
    for i in range(8):
        now += 60 * SEC
        b.record_failure("A", "1m", now - 5 * SEC, f"CODE_{i}")
        if i % 2:
            b.record_failure("C", "5m", now - 200 * SEC, "RATE_LIMITED")
        b.evaluate(
            now,
            {
                # 1m thresholds: 75 s / 150 s; 5m override 100 s / 200 s; 1h override 1000.5 s / 3000 s
                ("A", "1m"): now - 10 * SEC,  # GREEN, but failing: breaker via persistent ERROR
                ("A", "5m"): None,  # never: RED, breaker via red streak
                ("B", "1m"): now - 70 * SEC,  # GREEN
                ("B", "5m"): now - 400 * SEC,  # RED under the override: breaker
                ("C", "1m"): now - 100 * SEC,  # AMBER
                ("C", "5m"): now,
                ("D", "1h"): now - 2000 * SEC,  # AMBER under the 1h override
            },
        )
    # an operator closed one breaker; another pair is half-way to an auto close
    assert b.breaker_open("A", "5m")
    b.close_breaker("A", "5m", by="ops", now=now + SEC)
    assert b.breaker_open("A", "1m")
    assert b.breaker_open("B", "5m")
    # a few clean GREEN cycles for B/5m, not yet enough to auto close
    for _ in range(2):
        now += 60 * SEC
        b.evaluate(now, {("B", "5m"): now, ("A", "5m"): now})
    assert b.breaker_open("B", "5m")
    b.add_pair("E", "15m")  # registered, never evaluated
    return b, now


def drive(b: EscalationBoard, start: int, steps: int = 12) -> list[Any]:
    """The same deterministic inputs for any board; returns everything observable."""
    out: list[Any] = []
    now = start
    for i in range(steps):
        now += 60 * SEC
        if i % 3 == 0:
            b.record_failure("B", "1m", now - 2 * SEC, "LATE_ONE")
        if i == 5:
            out.append(b.close_breaker("A", "1m", by="bob", now=now))
        ticks = {("A", "1m"): now, ("B", "5m"): now, ("C", "1m"): now - 100 * SEC if i < 6 else now}
        out.append(b.evaluate(now, ticks))
        out.append(b.pairs(now))
        out.append(b.to_json())
    return out
