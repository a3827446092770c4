"""EscalationBoard through the Python API (docs/semantics.md, Health core): the ladder and its first-match
order, events, the per-pair breaker (open, operator close, auto close), the three input
forms of ``evaluate`` (mapping, int64 array, a real MarketEngine), settings and bad
arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

import montalaq
from montalaq import ErrorCode, EscalationBoard, Freshness, Level
from montalaq.shapes import EscalationEvent

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC  # 2024-08-09T00:00:00Z
A1 = ("A", "1m")
B1 = ("B", "1m")
INFO, WARN, ERROR, CRITICAL = Level.INFO, Level.WARN, Level.ERROR, Level.CRITICAL

# With 1m: amber_after 90 s, red_after 180 s.
AGE_S = {"GREEN": 0, "AMBER": 120, "RED": 240}


def tick_for(now: int, colour: str | None) -> int | None:
    """A last-trade time giving ``colour`` on a 1m pair (None: never traded)."""
    return None if colour is None else now - AGE_S[colour] * SEC


class Drive:
    """Runs cycles one minute apart on a board, giving each pair a colour through its last tick."""

    def __init__(self, board: EscalationBoard, now: int = T0) -> None:
        self.board = board
        self.now = now

    def cycle(
        self, colours: Mapping[tuple[str, str], str | None], dt: int = 60 * SEC
    ) -> list[EscalationEvent]:
        self.now += dt
        return self.board.evaluate(self.now, {p: tick_for(self.now, c) for p, c in colours.items()})

    def one(self, colour: str | None, pair: tuple[str, str] = A1) -> list[EscalationEvent]:
        return self.cycle({pair: colour})

    def fail(
        self, n: int = 1, code: str = "ANALYSIS_ERR", pair: tuple[str, str] = A1, ago_s: float = 1
    ) -> None:
        """Record ``n`` failures ``ago_s`` before the *next* cycle's time."""
        for _ in range(n):
            self.board.record_failure(*pair, self.now + 60 * SEC - round(ago_s * SEC), code)


def kinds(events: Sequence[EscalationEvent]) -> list[tuple[str, str, str, str, str]]:
    return [(e["kind"], e["symbol"], e["timeframe"], e["old"], e["new"]) for e in events]


def isolated_board(**kw: int) -> EscalationBoard:
    """A board whose breaker never opens unless asked, so ladder rules can be seen alone."""
    kw.setdefault("breaker_red_streak", 1000)
    kw.setdefault("breaker_error_streak", 1000)
    return EscalationBoard(**kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the ladder


def test_new_pair_is_info_until_evaluated() -> None:
    b = EscalationBoard()
    assert b.add_pair("A", "1m") == 0
    assert b.add_pair("A", "1m") == 0  # idempotent
    assert b.add_pair("A", "60s") == 0  # same timeframe
    assert b.add_pair("A", "5m") == 1
    assert len(b) == 2
    assert b.level("A", "1m") == INFO
    assert b.breaker_open("A", "1m") is False
    row = b.pair("A", "1m", now=T0)
    assert row["freshness"] == "RED"  # nothing received yet
    assert row["last_eval"] is None


def test_never_trading_pair_walks_error_breaker_critical() -> None:
    d = Drive(EscalationBoard())
    ev = d.one(None)
    assert kinds(ev) == [("level", "A", "1m", "INFO", "ERROR")]
    assert ev[0]["reason"].startswith("freshness RED (")
    assert d.board.level(*A1) == ERROR

    ev = d.one(None)  # red_streak 2: still ERROR, breaker opens
    assert kinds(ev) == [("breaker_open", "A", "1m", "CLOSED", "OPEN")]
    assert ev[0]["reason"] == "red_streak 2 >= 2"
    assert d.board.breaker_open(*A1)

    ev = d.one(None)  # red_streak 3: CRITICAL (both rules hold; the first wins the reason)
    assert kinds(ev) == [("level", "A", "1m", "ERROR", "CRITICAL")]
    assert ev[0]["reason"].startswith("freshness RED for consecutive cycles")
    assert d.one(None) == []  # no change, no event


def test_event_fields() -> None:
    d = Drive(EscalationBoard())
    d.fail(code="RATE_LIMITED")
    (ev,) = d.one(None)
    assert set(ev) >= {"kind", "symbol", "timeframe", "old", "new", "reason", "at", "last_error_code"}
    assert ev["kind"] == "level"
    assert ev["symbol"] == "A"
    assert ev["timeframe"] == "1m"
    assert ev["old"] == "INFO"
    assert ev["new"] == "ERROR"
    assert isinstance(ev["reason"], str)
    assert "fails_5m 1" in ev["reason"]
    assert "colour RED" in ev["reason"]
    at = ev["at"]
    assert isinstance(at, datetime)
    assert at.tzinfo is not None
    assert at.utcoffset() is not None
    assert at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert at == datetime.fromtimestamp(d.now / SEC, tz=UTC)
    assert ev["at_ns"] == d.now
    assert ev["last_error_code"] == "RATE_LIMITED"


def test_event_without_failures_has_no_error_code() -> None:
    d = Drive(EscalationBoard())
    (ev,) = d.one(None)
    assert ev["last_error_code"] is None


def test_single_red_is_error_and_green_returns_to_info() -> None:
    d = Drive(EscalationBoard())
    d.one("GREEN")
    assert d.board.level(*A1) == INFO
    assert kinds(d.one("RED")) == [("level", "A", "1m", "INFO", "ERROR")]
    ev = d.one("GREEN")
    assert kinds(ev) == [("level", "A", "1m", "ERROR", "INFO")]
    assert ev[0]["reason"].startswith("healthy")
    assert not d.board.breaker_open(*A1)


def test_amber_needs_two_consecutive_cycles_for_warn() -> None:
    d = Drive(EscalationBoard())
    assert d.one("AMBER") == []  # amber_streak 1: INFO
    assert d.board.level(*A1) == INFO
    ev = d.one("AMBER")
    assert kinds(ev) == [("level", "A", "1m", "INFO", "WARN")]
    assert ev[0]["reason"].startswith("freshness AMBER for consecutive cycles")
    assert d.one("AMBER") == []
    assert kinds(d.one("GREEN")) == [("level", "A", "1m", "WARN", "INFO")]
    # the streak is consecutive: AMBER, GREEN, AMBER never warns
    assert d.one("AMBER") == []
    assert d.one("GREEN") == []
    assert d.one("AMBER") == []
    assert d.board.level(*A1) == INFO


def test_failures_two_warn_three_error() -> None:
    d = Drive(EscalationBoard())
    d.fail(1)
    assert d.one("GREEN") == []
    assert d.board.pair(*A1, now=d.now)["fails_5m"] == 1
    d.fail(1, code="PROVIDER_DISCONNECTED")
    ev = d.one("GREEN")
    assert kinds(ev) == [("level", "A", "1m", "INFO", "WARN")]
    assert ev[0]["reason"].startswith("analysis failures in the window")
    assert ev[0]["last_error_code"] == "PROVIDER_DISCONNECTED"
    d.fail(1, code="INGESTION_TIMEOUT")
    ev = d.one("GREEN")
    assert kinds(ev) == [("level", "A", "1m", "WARN", "ERROR")]
    assert ev[0]["reason"].startswith("analysis failures in the window")
    assert "fails_5m 3" in ev[0]["reason"]
    assert ev[0]["last_error_code"] == "INGESTION_TIMEOUT"


def test_fails_5m_window_is_now_minus_at_below_300s() -> None:
    b = isolated_board()
    now = T0 + 1000 * SEC
    # two failures exactly on the boundary (not counted), two just inside (counted)
    b.record_failure("A", "1m", now - 300 * SEC, "ANALYSIS_ERR")
    b.record_failure("A", "1m", now - 300 * SEC, "ANALYSIS_ERR")
    b.record_failure("A", "1m", now - 300 * SEC + 1, "ANALYSIS_ERR")
    assert b.pair("A", "1m", now=now)["fails_5m"] == 1
    b.evaluate(now, {A1: now})
    assert b.level(*A1) == INFO
    b.record_failure("A", "1m", now - 1, "ANALYSIS_ERR")
    b.evaluate(now, {A1: now})
    assert b.level(*A1) == WARN  # 2 in the window
    assert b.pair("A", "1m", now=now)["fails_5m"] == 2
    # one ns later the older one of the two leaves the window
    b.evaluate(now + 1, {A1: now})
    assert b.pair("A", "1m", now=now + 1)["fails_5m"] == 1
    assert b.level(*A1) == INFO
    # a failure stamped after "now" (clock skew) counts (docs/semantics.md)
    b.record_failure("A", "1m", now + 10 * SEC, "ANALYSIS_ERR")
    assert b.pair("A", "1m", now=now + 1)["fails_5m"] == 2


def test_failures_expire_and_the_level_falls_back() -> None:
    d = Drive(isolated_board())
    d.fail(3)
    assert kinds(d.one("GREEN")) == [("level", "A", "1m", "INFO", "ERROR")]
    for _ in range(4):  # 4 more minutes: the failures are 4 min + 1 s old
        d.one("GREEN")
    assert d.board.level(*A1) == ERROR
    ev = d.one("GREEN")  # 5 min + 1 s old: out of the window
    assert kinds(ev) == [("level", "A", "1m", "ERROR", "INFO")]
    assert d.board.pair(*A1, now=d.now)["fails_5m"] == 0
    # the last error code outlives the window
    assert ev[0]["last_error_code"] == "ANALYSIS_ERR"


def test_out_of_order_failure_keeps_the_latest_code() -> None:
    b = EscalationBoard()
    b.record_failure("A", "1m", T0, "RATE_LIMITED")
    b.record_failure("A", "1m", T0 - 10 * SEC, "ANALYSIS_ERR")  # older, arrives later
    assert b.pair("A", "1m", now=T0)["last_error_code"] == "RATE_LIMITED"
    assert b.pair("A", "1m", now=T0)["fails_5m"] == 2


# --------------------------------------------------------------------------- first match order


def test_first_match_red_beats_failures() -> None:
    d = Drive(isolated_board())
    d.fail(3)
    (ev,) = d.one("RED")
    assert ev["new"] == "ERROR"
    assert ev["reason"].startswith("freshness RED (")


def test_first_match_error_failures_beat_amber_warn() -> None:
    d = Drive(isolated_board())
    d.one("AMBER")
    d.fail(3)
    (ev,) = d.one("AMBER")  # amber_streak 2 (WARN) and fails 3 (ERROR)
    assert ev["new"] == "ERROR"
    assert ev["reason"].startswith("analysis failures in the window")


def test_first_match_amber_beats_failure_warn() -> None:
    d = Drive(isolated_board())
    d.one("AMBER")
    d.fail(2)
    (ev,) = d.one("AMBER")
    assert ev["new"] == "WARN"
    assert ev["reason"].startswith("freshness AMBER")


def test_critical_from_red_streak_alone() -> None:
    d = Drive(isolated_board())
    d.one("RED")
    d.one("RED")
    assert d.board.level(*A1) == ERROR
    assert not d.board.breaker_open(*A1)
    (ev,) = d.one("RED")
    assert ev["new"] == "CRITICAL"
    assert ev["reason"].startswith("freshness RED for consecutive cycles")


def test_persistent_error_opens_breaker_then_breaker_alone_is_critical() -> None:
    d = Drive(EscalationBoard())
    for i in range(3):
        d.fail(3, code=f"E{i}")
        ev = d.one("GREEN")
    # third ERROR cycle: error_streak 3 -> breaker opens (level stays ERROR this cycle)
    assert kinds(ev) == [("breaker_open", "A", "1m", "CLOSED", "OPEN")]
    assert ev[0]["reason"] == "persistent ERROR: error_streak 3 >= 3"
    assert ev[0]["last_error_code"] == "E2"
    assert d.board.level(*A1) == ERROR
    # the pair is perfectly healthy now, but the breaker was open before the cycle
    d.board.record_failure("A", "1m", d.now - 400 * SEC, "E3")  # outside the window
    ev = d.cycle({A1: "GREEN"}, dt=301 * SEC)
    assert kinds(ev) == [("level", "A", "1m", "ERROR", "CRITICAL")]
    assert ev[0]["reason"].startswith("breaker open")
    assert d.board.pair(*A1, now=d.now)["fails_5m"] == 0
    for _ in range(5):
        assert d.one("GREEN") == []
    assert d.board.level(*A1) == CRITICAL  # auto close is off: stays until an operator acts


def test_breaker_opens_after_the_level_is_computed() -> None:
    # breaker_red_streak=1: the breaker opens on the first RED cycle, but that cycle's level
    # is ERROR (the breaker was not open *before* it); the next cycle is CRITICAL.
    d = Drive(EscalationBoard(breaker_red_streak=1))
    ev = d.one("RED")
    assert kinds(ev) == [
        ("level", "A", "1m", "INFO", "ERROR"),
        ("breaker_open", "A", "1m", "CLOSED", "OPEN"),
    ]
    assert ev[1]["reason"] == "red_streak 1 >= 1"
    ev = d.one("RED")
    assert kinds(ev) == [("level", "A", "1m", "ERROR", "CRITICAL")]
    assert ev[0]["reason"].startswith("breaker open")


def test_breaker_row_fields() -> None:
    d = Drive(EscalationBoard())
    d.one(None)
    d.one(None)
    row = d.board.pair(*A1, now=d.now)
    assert row["breaker_open"] is True
    assert row["breaker_changed_ns"] == d.now
    assert row["breaker_changed_at"] == datetime.fromtimestamp(d.now / SEC, tz=UTC)
    assert row["breaker_reason"] == "red_streak 2 >= 2"
    assert row["red_streak"] == 2
    assert row["error_streak"] == 2


# --------------------------------------------------------------------------- closing the breaker


def test_operator_close_returns_event_once() -> None:
    d = Drive(EscalationBoard())
    d.fail(code="PROVIDER_DISCONNECTED")
    d.one(None)
    d.one(None)
    d.one(None)
    assert d.board.breaker_open(*A1)
    ev = d.board.close_breaker("A", "1m", by="alice", now=d.now + SEC)
    assert ev is not None
    assert ev["kind"] == "breaker_close"
    assert (ev["symbol"], ev["timeframe"], ev["old"], ev["new"]) == ("A", "1m", "OPEN", "CLOSED")
    assert ev["reason"] == "operator: alice"
    assert ev["at_ns"] == d.now + SEC
    assert ev["at"] == datetime.fromtimestamp((d.now + SEC) / SEC, tz=UTC)
    assert ev["last_error_code"] == "PROVIDER_DISCONNECTED"
    assert d.board.breaker_open(*A1) is False
    assert d.board.close_breaker("A", "1m", by="alice", now=d.now + 2 * SEC) is None
    row = d.board.pair(*A1, now=d.now)
    assert row["breaker_reason"] == "operator: alice"
    assert row["breaker_changed_ns"] == d.now + SEC
    # the level is only re-evaluated by the next cycle
    assert d.board.level(*A1) == CRITICAL
    ev2 = d.one("GREEN")
    assert kinds(ev2) == [("level", "A", "1m", "CRITICAL", "INFO")]


def test_close_of_a_closed_breaker_is_none() -> None:
    b = EscalationBoard()
    b.add_pair("A", "1m")
    assert b.close_breaker("A", "1m", now=T0) is None


def test_still_red_after_operator_close_reopens() -> None:
    d = Drive(EscalationBoard())
    d.one("RED")
    d.one("RED")
    assert d.board.close_breaker(*A1, now=d.now) is not None
    ev = d.one("RED")  # red_streak 3: CRITICAL from the red streak, breaker opens again
    assert kinds(ev) == [
        ("level", "A", "1m", "ERROR", "CRITICAL"),
        ("breaker_open", "A", "1m", "CLOSED", "OPEN"),
    ]


def test_critical_cycles_with_open_breaker_count_as_error_streak() -> None:
    """docs/semantics.md, Health core counts error_streak over cycles "at ERROR or above", and a pair whose
    breaker
    is open is CRITICAL: after an operator close, one ERROR cycle re-opens at once."""
    d = Drive(EscalationBoard())
    for _ in range(3):
        d.fail(3)
        d.one("GREEN")
    assert d.board.breaker_open(*A1)
    d.cycle({A1: "GREEN"}, dt=400 * SEC)  # healthy, but CRITICAL (breaker open)
    d.one("GREEN")
    assert d.board.pair(*A1, now=d.now)["error_streak"] == 5
    d.board.close_breaker(*A1, now=d.now)
    ev = d.one("RED")  # a single RED cycle
    assert kinds(ev) == [
        ("level", "A", "1m", "CRITICAL", "ERROR"),
        ("breaker_open", "A", "1m", "CLOSED", "OPEN"),
    ]
    assert ev[1]["reason"] == "persistent ERROR: error_streak 6 >= 3"


def test_auto_close_after_n_clean_green_cycles() -> None:
    d = Drive(EscalationBoard(auto_close_cycles=3))
    d.one("RED")
    d.one("RED")
    assert d.board.breaker_open(*A1)
    assert kinds(d.one("GREEN")) == [("level", "A", "1m", "ERROR", "CRITICAL")]
    assert d.one("GREEN") == []
    ev = d.one("GREEN")  # third clean GREEN cycle
    assert kinds(ev) == [("breaker_close", "A", "1m", "OPEN", "CLOSED")]
    assert ev[0]["reason"] == "auto: 3 GREEN cycles without failures"
    assert not d.board.breaker_open(*A1)
    assert d.board.level(*A1) == CRITICAL  # that cycle still saw the breaker open
    assert kinds(d.one("GREEN")) == [("level", "A", "1m", "CRITICAL", "INFO")]


def test_auto_close_streak_is_reset_by_amber_and_by_failures() -> None:
    d = Drive(EscalationBoard(auto_close_cycles=2))
    d.one("RED")
    d.one("RED")
    d.one("GREEN")
    d.one("AMBER")  # breaks the streak
    assert d.one("GREEN") == []
    d.fail(1, ago_s=1)
    assert d.one("GREEN") == []  # GREEN but fails_5m == 1
    assert d.board.pair(*A1, now=d.now)["clean_green_streak"] == 0
    for _ in range(4):
        assert d.one("GREEN") == []  # the failure is still in the 5 min window
    ev = d.one("GREEN")  # 5 min + 1 s: clean again, streak 1
    assert ev == []
    assert d.board.breaker_open(*A1)
    ev = d.one("GREEN")
    assert kinds(ev) == [("breaker_close", "A", "1m", "OPEN", "CLOSED")]


def test_auto_close_off_by_default() -> None:
    d = Drive(EscalationBoard())
    d.one("RED")
    d.one("RED")
    for _ in range(20):
        d.one("GREEN")
    assert d.board.breaker_open(*A1)
    assert d.board.level(*A1) == CRITICAL
    row = d.board.pair(*A1, now=d.now)
    assert row["clean_green_streak"] == 20
    assert row["freshness"] == "GREEN"  # freshness keeps being evaluated while open
    assert row["last_eval_ns"] == d.now


def test_auto_close_one_cycle() -> None:
    d = Drive(EscalationBoard(auto_close_cycles=1))
    d.one("RED")
    d.one("RED")
    ev = d.one("GREEN")
    assert kinds(ev) == [
        ("level", "A", "1m", "ERROR", "CRITICAL"),
        ("breaker_close", "A", "1m", "OPEN", "CLOSED"),
    ]


# --------------------------------------------------------------------------- isolation


def test_one_broken_pair_never_touches_another() -> None:
    d = Drive(EscalationBoard())
    for _ in range(5):
        d.fail(5, pair=A1)
        ev = d.cycle({A1: None, B1: "GREEN"})
        assert all(e["symbol"] == "A" for e in ev)
    assert d.board.breaker_open(*A1)
    assert d.board.level(*A1) == CRITICAL
    assert not d.board.breaker_open(*B1)
    assert d.board.level(*B1) == INFO
    row = d.board.pair(*B1, now=d.now)
    assert row["fails_5m"] == 0
    assert row["last_error_code"] is None


# --------------------------------------------------------------------------- settings


def test_critical_red_streak_setting() -> None:
    d = Drive(isolated_board(critical_red_streak=5))
    levels = []
    for _ in range(6):
        d.one("RED")
        levels.append(d.board.level(*A1))
    assert levels == [ERROR, ERROR, ERROR, ERROR, CRITICAL, CRITICAL]


def test_default_red_streak_critical_at_three_when_isolated() -> None:
    d = Drive(isolated_board())
    levels = []
    for _ in range(4):
        d.one("RED")
        levels.append(d.board.level(*A1))
    assert levels == [ERROR, ERROR, CRITICAL, CRITICAL]


def test_warn_and_error_fail_settings() -> None:
    d = Drive(isolated_board(warn_fails=1, error_fails=5))
    d.fail(1)
    d.one("GREEN")
    assert d.board.level(*A1) == WARN
    d.fail(3)
    d.one("GREEN")
    assert d.board.level(*A1) == WARN  # 4 < 5
    d.fail(1)
    d.one("GREEN")
    assert d.board.level(*A1) == ERROR


def test_warn_amber_streak_setting() -> None:
    d = Drive(EscalationBoard(warn_amber_streak=3))
    d.one("AMBER")
    d.one("AMBER")
    assert d.board.level(*A1) == INFO
    d.one("AMBER")
    assert d.board.level(*A1) == WARN


def test_breaker_streak_settings() -> None:
    d = Drive(EscalationBoard(breaker_red_streak=4, critical_red_streak=10, breaker_error_streak=10))
    for _ in range(3):
        d.one("RED")
    assert not d.board.breaker_open(*A1)
    ev = d.one("RED")
    assert ev[-1]["kind"] == "breaker_open"
    assert ev[-1]["reason"] == "red_streak 4 >= 4"

    d = Drive(EscalationBoard(breaker_error_streak=1))
    d.fail(3)
    ev = d.one("GREEN")
    assert kinds(ev) == [("level", "A", "1m", "INFO", "ERROR"), ("breaker_open", "A", "1m", "CLOSED", "OPEN")]
    assert ev[1]["reason"] == "persistent ERROR: error_streak 1 >= 1"


def test_fail_window_setting() -> None:
    b = EscalationBoard(fail_window_s=60)
    now = T0
    for _ in range(3):
        b.record_failure("A", "1m", now - 60 * SEC)  # exactly on the boundary
    b.evaluate(now, {A1: now})
    assert b.level(*A1) == INFO
    for _ in range(3):
        b.record_failure("A", "1m", now - 59 * SEC)
    b.evaluate(now, {A1: now})
    assert b.level(*A1) == ERROR
    assert b.config()["fail_window_ns"] == 60 * SEC


def test_freshness_setting_changes_colours() -> None:
    b = EscalationBoard(Freshness(overrides={"1m": (10, 20)}))
    b.evaluate(T0, {A1: T0 - 15 * SEC})
    assert b.pair(*A1, now=T0)["freshness"] == "AMBER"
    b.evaluate(T0, {A1: T0 - 21 * SEC})
    assert b.level(*A1) == ERROR
    assert b.config()["freshness"]["overrides"] == [
        {"tf_ns": 60 * SEC, "amber_after_ns": 10 * SEC, "red_after_ns": 20 * SEC}
    ]


def test_config_reports_every_setting() -> None:
    b = EscalationBoard(
        auto_close_cycles=4,
        critical_red_streak=6,
        error_fails=7,
        warn_amber_streak=8,
        warn_fails=9,
        breaker_red_streak=10,
        breaker_error_streak=11,
        fail_window_s=12.5,
        max_failures_kept=13,
    )
    c = b.config()
    assert c["auto_close_cycles"] == 4
    assert c["critical_red_streak"] == 6
    assert c["error_fails"] == 7
    assert c["warn_amber_streak"] == 8
    assert c["warn_fails"] == 9
    assert c["breaker_red_streak"] == 10
    assert c["breaker_error_streak"] == 11
    assert c["fail_window_ns"] == 12_500_000_000
    assert c["max_failures_kept"] == 13
    assert c["freshness"]["amber_mult"] == 1.5


def test_max_failures_kept_bounds_memory() -> None:
    b = EscalationBoard(max_failures_kept=2)
    for i in range(5):
        b.record_failure("A", "1m", T0 + i, f"E{i}")
    row = b.pair("A", "1m", now=T0 + 10)
    assert row["fails_5m"] == 2
    assert row["last_error_code"] == "E4"


# --------------------------------------------------------------------------- evaluate inputs


def test_evaluate_with_mapping_registers_and_accepts_time_values() -> None:
    b = EscalationBoard()
    now = datetime(2024, 8, 9, 12, 0, tzinfo=UTC)
    now_ns = int(now.timestamp()) * SEC
    ev = b.evaluate(
        now, {("X", "1m"): now, ("X", "5m"): np.datetime64("2024-08-09T11:55:00"), ("Y", "1h"): None}
    )
    assert [(r["symbol"], r["timeframe"]) for r in b.pairs(now)] == [("X", "1m"), ("X", "5m"), ("Y", "1h")]
    assert [r["freshness"] for r in b.pairs(now)] == ["GREEN", "GREEN", "RED"]
    assert kinds(ev) == [("level", "Y", "1h", "INFO", "ERROR")]
    assert b.pair("X", "5m", now)["last_tick_ns"] == now_ns - 300 * SEC


def test_evaluate_none_keeps_previous_ticks() -> None:
    b = EscalationBoard()
    b.evaluate(T0, {A1: T0})
    b.evaluate(T0 + 100 * SEC)  # age 100 s: AMBER
    assert b.pair(*A1, now=T0 + 100 * SEC)["freshness"] == "AMBER"
    b.evaluate(T0 + 200 * SEC)
    assert b.level(*A1) == ERROR
    # a partial mapping leaves the other pairs' ticks alone
    b.evaluate(T0 + 210 * SEC, {B1: T0 + 210 * SEC})
    assert b.pair(*A1, now=T0)["last_tick_ns"] == T0


def test_evaluate_with_int64_array_aligned_with_pairs() -> None:
    b = EscalationBoard()
    b.add_pairs(["A", "B"], ["1m", "5m"])
    assert [(r["symbol"], r["timeframe"]) for r in b.pairs(T0)] == [
        ("A", "1m"),
        ("A", "5m"),
        ("B", "1m"),
        ("B", "5m"),
    ]
    # A/1m GREEN, A/5m GREEN (age 400 s <= 450 s), B/1m never, B/5m RED (age 901 s > 900 s)
    ticks = np.array([T0, T0 - 400 * SEC, 0, T0 - 901 * SEC], dtype=np.int64)
    ev = b.evaluate(T0, ticks)
    assert [r["freshness"] for r in b.pairs(T0)] == ["GREEN", "GREEN", "RED", "RED"]
    assert kinds(ev) == [("level", "B", "1m", "INFO", "ERROR"), ("level", "B", "5m", "INFO", "ERROR")]
    # other integer dtypes are accepted too
    b.evaluate(T0, ticks.astype(np.uint64) * 0 + np.uint64(T0))
    assert [r["freshness"] for r in b.pairs(T0)] == ["GREEN"] * 4


def test_evaluate_array_errors() -> None:
    b = EscalationBoard()
    b.add_pairs(["A"], ["1m", "5m"])
    before = b.to_json()
    with pytest.raises(ValueError, match=r"one time per pair \(2\), got 3"):
        b.evaluate(T0, np.array([T0, T0, T0], dtype=np.int64))
    with pytest.raises(TypeError, match="last_tick_ns"):
        b.evaluate(T0, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="last_tick_ns"):
        b.evaluate(T0, np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(TypeError, match="last_tick_ns"):
        b.evaluate(T0, "nope")
    assert b.to_json() == before


def test_set_last_ticks_without_evaluating() -> None:
    b = EscalationBoard()
    b.set_last_ticks({A1: T0, B1: None})
    assert [(r["symbol"], r["last_tick_ns"], r["last_eval_ns"]) for r in b.pairs(T0)] == [
        ("A", T0, None),
        ("B", None, None),
    ]
    assert b.level(*A1) == INFO  # nothing evaluated yet
    b.set_last_ticks(np.array([T0 - 100 * SEC, T0], dtype=np.int64))
    b.evaluate(T0)
    assert [r["freshness"] for r in b.pairs(T0)] == ["AMBER", "GREEN"]
    with pytest.raises(ValueError, match="one time per pair"):
        b.set_last_ticks(np.array([T0], dtype=np.int64))


def test_evaluate_with_market_engine_fed_real_trades() -> None:
    trades = montalaq.read_trades(montalaq.sample_path("btcusdt"))
    engine = montalaq.MarketEngine(("1m", "5m"))
    counts, _ = engine.on_trades(
        "BTCUSDT", trades.ts_ns, trades.price, trades.size, trades.side, trades.trade_id
    )
    assert counts["ACCEPTED"] == len(trades.ts_ns)
    last = int(trades.ts_ns.max())

    b = EscalationBoard()
    b.add_pair("ETHUSDT", "1m")  # registered, but the engine never saw it
    now = last + SEC
    ev = b.evaluate(now, engine)
    rows = {(r["symbol"], r["timeframe"]): r for r in b.pairs(now)}
    assert set(rows) == {("ETHUSDT", "1m"), ("BTCUSDT", "1m"), ("BTCUSDT", "5m")}
    assert rows["BTCUSDT", "1m"]["last_tick_ns"] == last
    assert rows["BTCUSDT", "1m"]["freshness"] == "GREEN"
    assert rows["BTCUSDT", "5m"]["freshness"] == "GREEN"
    assert rows["ETHUSDT", "1m"]["freshness"] == "RED"
    assert rows["ETHUSDT", "1m"]["last_tick"] is None
    assert kinds(ev) == [("level", "ETHUSDT", "1m", "INFO", "ERROR")]

    # two minutes of silence: 1m is AMBER (age 121 s), 5m still GREEN
    now = last + 121 * SEC
    b.evaluate(now, engine)
    rows = {(r["symbol"], r["timeframe"]): r for r in b.pairs(now)}
    assert rows["BTCUSDT", "1m"]["freshness"] == "AMBER"
    assert rows["BTCUSDT", "5m"]["freshness"] == "GREEN"
    # four minutes: 1m RED (> 180 s) twice -> its breaker opens; 5m unaffected
    b.evaluate(last + 181 * SEC, engine)
    ev = b.evaluate(last + 241 * SEC, engine)
    assert ("breaker_open", "BTCUSDT", "1m", "CLOSED", "OPEN") in kinds(ev)
    assert b.breaker_open("BTCUSDT", "1m")
    assert not b.breaker_open("BTCUSDT", "5m")
    assert b.level("BTCUSDT", "5m") == INFO


def test_pairs_rows_shape() -> None:
    d = Drive(EscalationBoard())
    d.fail(code="ANALYSIS_ERR")
    d.cycle({A1: "GREEN", B1: None})
    rows = d.board.pairs(d.now)
    assert len(rows) == 2
    expected_keys = {
        "symbol",
        "tf_ns",
        "timeframe",
        "freshness",
        "escalation_level",
        "breaker_open",
        "amber_streak",
        "red_streak",
        "error_streak",
        "clean_green_streak",
        "fails_5m",
        "last_tick_ns",
        "last_tick",
        "last_eval_ns",
        "last_eval",
        "last_error_code",
        "breaker_changed_ns",
        "breaker_changed_at",
        "breaker_reason",
    }
    for r in rows:
        assert expected_keys <= set(r)
    a, b = rows
    assert a["symbol"] == "A"
    assert a["tf_ns"] == 60 * SEC
    assert a["timeframe"] == "1m"
    assert a["freshness"] == "GREEN"
    assert a["escalation_level"] == "INFO"
    assert a["fails_5m"] == 1
    assert a["last_error_code"] == "ANALYSIS_ERR"
    assert a["last_tick_ns"] == d.now
    assert a["last_tick"] == datetime.fromtimestamp(d.now / SEC, tz=UTC)
    assert a["last_eval"] == datetime.fromtimestamp(d.now / SEC, tz=UTC)
    assert a["breaker_changed_at"] is None
    assert a["breaker_reason"] is None
    assert b["freshness"] == "RED"
    assert b["escalation_level"] == "ERROR"
    assert b["last_tick_ns"] is None
    assert b["last_tick"] is None
    assert b["last_error_code"] is None
    # pair() is the same row
    assert d.board.pair("B", "1m", now=d.now) == b


def test_record_failure_codes() -> None:
    b = EscalationBoard()
    b.record_failure("A", "1m", T0)  # default UNKNOWN, registers the pair
    assert b.pair("A", "1m", now=T0)["last_error_code"] == "UNKNOWN"
    b.record_failure("A", "1m", T0 + 1, ErrorCode.INGESTION_TIMEOUT)
    assert b.pair("A", "1m", now=T0)["last_error_code"] == "INGESTION_TIMEOUT"
    b.record_failure("A", "1m", datetime.fromtimestamp(T0 / SEC + 2, tz=UTC), "MY_OWN_CODE")
    assert b.pair("A", "1m", now=T0 + 3 * SEC)["last_error_code"] == "MY_OWN_CODE"
    assert b.pair("A", "1m", now=T0 + 3 * SEC)["fails_5m"] == 3


def test_wall_clock_defaults() -> None:
    b = EscalationBoard()
    b.record_failure("A", "1m")  # at: now
    before = datetime.now(UTC)
    ev = b.evaluate()
    assert b.pair("A", "1m")["fails_5m"] == 1
    assert ev[0]["at"] >= before.replace(microsecond=0)


# --------------------------------------------------------------------------- bad arguments


def test_unknown_pair_raises_value_error_naming_it() -> None:
    b = EscalationBoard()
    b.add_pair("A", "1m")
    for call in (
        lambda: b.level("Z", "1m"),
        lambda: b.breaker_open("A", "5m"),
        lambda: b.close_breaker("Z", "1m"),
        lambda: b.pair("Z", "1m"),
    ):
        with pytest.raises(ValueError, match="unknown pair"):
            call()


@pytest.mark.parametrize("tf", ["1x", "", "m", "1M"])
def test_bad_timeframe(tf: str) -> None:
    b = EscalationBoard()
    with pytest.raises(ValueError, match="timeframe"):
        b.add_pair("A", tf)
    with pytest.raises(ValueError, match="timeframe"):
        b.level("A", tf)
    with pytest.raises(ValueError, match="timeframe"):
        b.evaluate(T0, {("A", tf): T0})
    with pytest.raises(ValueError, match="timeframe"):
        b.record_failure("A", tf, T0)
    assert len(b) == 0


def test_bad_symbol() -> None:
    b = EscalationBoard()
    with pytest.raises(ValueError, match="symbol"):
        b.add_pair("", "1m")
    with pytest.raises(ValueError, match="symbol"):
        b.add_pair(None, "1m")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "auto_close_cycles",
        "critical_red_streak",
        "error_fails",
        "warn_amber_streak",
        "warn_fails",
        "breaker_red_streak",
        "breaker_error_streak",
        "max_failures_kept",
    ],
)
@pytest.mark.parametrize("value", [2.0, "3", True, None])
def test_non_int_settings_are_type_errors(name: str, value: object) -> None:
    with pytest.raises(TypeError, match=name):
        EscalationBoard(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("auto_close_cycles", -1),
        ("critical_red_streak", 0),
        ("error_fails", 0),
        ("warn_amber_streak", -3),
        ("warn_fails", 0),
        ("breaker_red_streak", 0),
        ("breaker_error_streak", 0),
        ("max_failures_kept", 0),
        ("fail_window_s", -1),
        ("fail_window_s", 0),
        ("fail_window_s", float("nan")),
        ("fail_window_s", float("inf")),
    ],
)
def test_out_of_range_settings_are_value_errors(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        EscalationBoard(**{name: value})  # type: ignore[arg-type]


def test_fail_window_must_be_a_number() -> None:
    with pytest.raises(TypeError, match="fail_window_s"):
        EscalationBoard(fail_window_s="300")  # type: ignore[arg-type]


def test_record_failure_bad_arguments() -> None:
    b = EscalationBoard()
    with pytest.raises(ValueError, match="error_code"):
        b.record_failure("A", "1m", T0, "")
    with pytest.raises(ValueError, match="error_code"):
        b.record_failure("A", "1m", T0, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        b.record_failure("A", "1m", datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        b.record_failure("A", "1m", 1.5)
    assert b.pair("A", "1m", now=T0)["fails_5m"] == 0


def test_evaluate_bad_time() -> None:
    b = EscalationBoard()
    with pytest.raises(ValueError, match="naive"):
        b.evaluate(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        b.evaluate(T0, {A1: datetime(2024, 1, 1)})
    with pytest.raises(TypeError):
        b.evaluate("now")


# --------------------------------------------------------------------------- bugs pinned


def test_bug_last_error_code_depends_on_pruning() -> None:
    """The same failures give a different last_error_code depending on whether a cycle ran
    in between. Repro: failure X at t=1000 s, failure Y at t=500 s (older, arrives later):
    last_error_code is X. With evaluate(now=2000 s) between the two records, X was pruned
    from the window, and the late, older Y becomes "last". Expected X in both cases (the
    most recent failure by time, as when nothing was pruned)."""
    a = EscalationBoard()
    a.record_failure("A", "1m", 1000 * SEC, "X")
    a.record_failure("A", "1m", 500 * SEC, "Y")
    assert a.pair("A", "1m", now=2000 * SEC)["last_error_code"] == "X"

    b = EscalationBoard()
    b.record_failure("A", "1m", 1000 * SEC, "X")
    b.evaluate(2000 * SEC, {A1: 2000 * SEC})
    b.record_failure("A", "1m", 500 * SEC, "Y")
    assert b.pair("A", "1m", now=2000 * SEC)["last_error_code"] == "X"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("critical_red_streak", 2**40),
        ("auto_close_cycles", 2**31),
        ("max_failures_kept", 2**64),
        ("fail_window_s", 1e20),
    ],
)
def test_bug_huge_board_setting_error_does_not_name_it(name: str, value: object) -> None:
    """docs/semantics.md, Time values in Python: a bad argument's error names it. A setting that passes the
    Python checks but
    does not fit the native int type gives pybind11's "incompatible constructor arguments"
    (a TypeError listing the whole signature), not a ValueError naming the setting.
    Repro: EscalationBoard(critical_red_streak=2**40)."""
    with pytest.raises(ValueError, match=name):
        EscalationBoard(**{name: value})  # type: ignore[arg-type]


def test_record_failure_takes_time_then_code_and_says_so_when_swapped() -> None:
    """The issue's signature is record_failure(symbol, tf, at_ns, error_code)."""
    b = EscalationBoard()
    b.record_failure("A", "1m", T0, "ANALYSIS_ERR")
    assert b.pair("A", "1m", now=T0)["last_error_code"] == "ANALYSIS_ERR"
    with pytest.raises(TypeError, match="fourth argument"):
        b.record_failure("A", "1m", "ANALYSIS_ERR")


def test_events_have_exactly_the_shape_montalaq_shapes_defines() -> None:
    # One definition of an event (montalaq.shapes): the board's events, the API's model and
    # the Celery documents all use it, so a field added in one place shows up here.
    from typing import get_type_hints

    from montalaq.api.models import BreakerClose
    from montalaq.shapes import EscalationEvent, EventDoc

    board = EscalationBoard()
    board.add_pair("BTCUSDT", "1m")
    t0 = 1_767_225_600 * 1_000_000_000
    board.evaluate(t0, {("BTCUSDT", "1m"): t0})
    events = board.evaluate(t0 + 3_600 * 1_000_000_000)
    assert events
    for e in events:
        assert set(e) == EscalationEvent.__required_keys__
        assert set(e) - {"at"} == EventDoc.__required_keys__
        assert e["kind"] in get_type_hints(EscalationEvent)["kind"].__args__
    schema = BreakerClose.model_json_schema()
    assert set(schema["$defs"]["EscalationEvent"]["properties"]) == EscalationEvent.__required_keys__
