"""Property tests of the health core against short pure-Python reference models written
from docs/semantics.md, Health core (not from the C++):

- the escalation ladder and per-pair breakers over thousands of random cycles (colours via
  last ticks, timestamped failures with random codes, operator closes, random thresholds
  and auto close), comparing levels, breakers and events cycle by cycle; again with pairs
  on a market calendar of random sessions (docs/semantics.md, "Market calendars");
- breaker isolation: activity on pair A never changes pair B (against a board with only B);
- the generic circuit breaker in count mode and in rate mode.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from montalaq import CircuitBreaker, EscalationBoard

if TYPE_CHECKING:
    from montalaq.shapes import EscalationEvent

# Seconds per test (servers, subprocesses, migrations, many examples): run first in parallel.
pytestmark = pytest.mark.slow

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PAIRS = (("A", "1m"), ("B", "1m"), ("A", "5m"))
TF_S = {"1m": 60, "5m": 300}
CODES = ("ANALYSIS_ERR", "INGESTION_TIMEOUT", "PROVIDER_DISCONNECTED", "RATE_LIMITED", "CUSTOM")
LEVELS = ("INFO", "WARN", "ERROR", "CRITICAL")

Pair = tuple[str, str]  # (symbol, timeframe)
# An escalation event compared between board and model: kind, symbol, timeframe, old, new,
# last error code; an operator close gives ("close", that event or None).
EvTuple = tuple[str, str, str, str, str, str | None]
CycleEvent = EvTuple | tuple[str, EvTuple | None]


class CycleInput(TypedDict):
    """What one cycle feeds to board and model (apply_cycle)."""

    failures: list[tuple[Pair, int, str]]  # (pair, seconds before now, error code)
    closes: list[Pair]  # operator closes
    mode: str  # how ticks reach evaluate: "mapping", "subset", "array" or "none"
    ticks: dict[Pair, int | None]  # age in ns, None: never traded


class CycleSpec(CycleInput):
    """One drawn cycle: the clock advances dt_s, then the cycle's input."""

    dt_s: int


# --------------------------------------------------------------------------- escalation model


@dataclass
class Cfg:
    critical_red_streak: int = 3
    error_fails: int = 3
    warn_amber_streak: int = 2
    warn_fails: int = 2
    breaker_red_streak: int = 2
    breaker_error_streak: int = 3
    auto_close_cycles: int = 0
    fail_window_s: int = 300


@dataclass
class RefPair:
    symbol: str
    tf_s: int
    last_tick: int | None = None
    level: str = "INFO"
    breaker: bool = False
    amber: int = 0
    red: int = 0
    error: int = 0
    clean_green: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    sessions: list[tuple[int, int]] | None = None  # [open, close) ns; None: 24/7


def colour_of(tf_s: int, now: int, last_tick: int | None) -> str:
    """docs/semantics.md, Health core with the default thresholds 1.5 tf and 3 tf."""
    if last_tick is None or last_tick <= 0:
        return "RED"
    age = max(0, now - last_tick)
    if 2 * age <= 3 * tf_s * SEC:
        return "GREEN"
    if age <= 3 * tf_s * SEC:
        return "AMBER"
    return "RED"


def colour_at(p: RefPair, now: int) -> str:
    """CLOSED outside the pair's sessions; inside, the age counts from the later of the last
    tick and the session's open (a pair that never traded counts from the open)."""
    if p.sessions is None:
        return colour_of(p.tf_s, now, p.last_tick)
    opens = [o for o, c in p.sessions if o <= now < c]
    if not opens:
        return "CLOSED"
    return colour_of(p.tf_s, now, max(p.last_tick or 0, opens[0]))


class RefBoard:
    """docs/semantics.md, Health core, as written, plus market calendars."""

    def __init__(self, cfg: Cfg, pairs: tuple[tuple[str, str], ...]) -> None:
        self.cfg = cfg
        self.pairs = {p: RefPair(p[0], TF_S[p[1]]) for p in pairs}

    def last_error_code(self, p: RefPair) -> str | None:
        """The code of the most recent failure (ties: the one recorded last)."""
        best: tuple[int, str] | None = None
        for at, code in p.failures:
            if best is None or at >= best[0]:
                best = (at, code)
        return None if best is None else best[1]

    def evaluate(self, now: int) -> list[EvTuple]:
        c = self.cfg
        events: list[EvTuple] = []
        for key, p in self.pairs.items():
            colour = colour_at(p, now)
            if colour == "CLOSED":  # nothing escalates, nothing is reported
                p.amber = p.red = p.error = 0
                continue
            fails = sum(1 for at, _ in p.failures if 0 <= now - at < c.fail_window_s * SEC)
            was_open = p.breaker
            p.amber = p.amber + 1 if colour == "AMBER" else 0
            p.red = p.red + 1 if colour == "RED" else 0
            if p.red >= c.critical_red_streak or was_open:
                level = "CRITICAL"
            elif colour == "RED" or fails >= c.error_fails:
                level = "ERROR"
            elif p.amber >= c.warn_amber_streak or fails >= c.warn_fails:
                level = "WARN"
            else:
                level = "INFO"
            p.error = p.error + 1 if LEVELS.index(level) >= LEVELS.index("ERROR") else 0
            p.clean_green = p.clean_green + 1 if colour == "GREEN" and fails == 0 else 0
            code = self.last_error_code(p)
            if level != p.level:
                events.append(("level", *key, p.level, level, code))
                p.level = level
            # after the level is computed
            if not p.breaker and (p.red >= c.breaker_red_streak or p.error >= c.breaker_error_streak):
                p.breaker = True
                events.append(("breaker_open", *key, "CLOSED", "OPEN", code))
            elif was_open and c.auto_close_cycles > 0 and p.clean_green >= c.auto_close_cycles:
                p.breaker = False
                events.append(("breaker_close", *key, "OPEN", "CLOSED", code))
        return events

    def close(self, key: Pair) -> EvTuple | None:
        p = self.pairs[key]
        if not p.breaker:
            return None
        p.breaker = False
        return ("breaker_close", *key, "OPEN", "CLOSED", self.last_error_code(p))


def ev_tuple(e: EscalationEvent) -> EvTuple:
    return (e["kind"], e["symbol"], e["timeframe"], e["old"], e["new"], e["last_error_code"])


# --------------------------------------------------------------------------- strategies

configs = st.builds(
    Cfg,
    critical_red_streak=st.integers(1, 4),
    error_fails=st.integers(1, 4),
    warn_amber_streak=st.integers(1, 3),
    warn_fails=st.integers(1, 3),
    breaker_red_streak=st.integers(1, 4),
    breaker_error_streak=st.integers(1, 5),
    auto_close_cycles=st.integers(0, 3),
    fail_window_s=st.sampled_from([60, 120, 300]),
)


def age_choices(tf_s: int) -> st.SearchStrategy[int | None]:
    """Ages in ns, with the exact colour boundaries, or None (never traded)."""
    tf = tf_s * SEC
    return st.one_of(
        st.none(),
        st.sampled_from([0, tf * 3 // 2, tf * 3 // 2 + 1, 3 * tf, 3 * tf + 1, 10 * tf]),
        st.integers(0, 4 * tf),
    )


@st.composite
def cycle_specs(draw: st.DrawFn, pairs: tuple[Pair, ...]) -> CycleSpec:
    """One cycle: time advance, failures before it, operator closes, and the tick input."""
    mode = draw(st.sampled_from(["mapping", "subset", "array", "none"]))
    ticks: dict[Pair, int | None] = {}
    for p in pairs:
        if mode == "mapping" or (mode == "subset" and draw(st.booleans())) or mode == "array":
            ticks[p] = draw(age_choices(TF_S[p[1]]))
    return {
        "dt_s": draw(st.sampled_from([0, 1, 30, 60, 61, 90, 150, 301])),
        "failures": draw(
            st.lists(
                st.tuples(st.sampled_from(pairs), st.integers(0, 400), st.sampled_from(CODES)),
                max_size=3,
            )
        ),
        "closes": draw(st.lists(st.sampled_from(pairs), max_size=1)),
        "mode": mode,
        "ticks": ticks,
    }


def apply_cycle(
    board: EscalationBoard,
    ref: RefBoard,
    spec: CycleInput,
    now: int,
    last_fail: dict[Pair, int],
) -> tuple[list[CycleEvent], list[CycleEvent]]:
    """Feed one cycle to both; returns (board events, model events) incl. operator closes."""
    got: list[CycleEvent] = []
    want: list[CycleEvent] = []
    for pair, ago_s, code in spec["failures"]:
        # failures of a pair arrive in time order; they may already be older than the window
        at = max(now - ago_s * SEC, last_fail.get(pair, 0))
        last_fail[pair] = at
        board.record_failure(*pair, at, code)
        ref.pairs[pair].failures.append((at, code))
    for pair in spec["closes"]:
        ev = board.close_breaker(*pair, by="prop", now=now)
        got.append(("close", None if ev is None else ev_tuple(ev)))
        want.append(("close", ref.close(pair)))
    ticks = {p: None if age is None else now - age for p, age in spec["ticks"].items()}
    for p, t in ticks.items():
        ref.pairs[p].last_tick = t
    if spec["mode"] in ("mapping", "subset"):
        events = board.evaluate(now, ticks)
    elif spec["mode"] == "array":
        order = [(r["symbol"], r["timeframe"]) for r in board.pairs(now)]
        arr = np.array([ticks[p] or 0 for p in order], dtype=np.int64)
        events = board.evaluate(now, arr)
    else:
        events = board.evaluate(now)
    got += [ev_tuple(e) for e in events]
    want += ref.evaluate(now)
    return got, want


def make_board(cfg: Cfg, pairs: tuple[tuple[str, str], ...]) -> EscalationBoard:
    b = EscalationBoard(
        auto_close_cycles=cfg.auto_close_cycles,
        critical_red_streak=cfg.critical_red_streak,
        error_fails=cfg.error_fails,
        warn_amber_streak=cfg.warn_amber_streak,
        warn_fails=cfg.warn_fails,
        breaker_red_streak=cfg.breaker_red_streak,
        breaker_error_streak=cfg.breaker_error_streak,
        fail_window_s=cfg.fail_window_s,
    )
    for p in pairs:
        b.add_pair(*p)
    return b


def run_against_model(board: EscalationBoard, ref: RefBoard, cycles: list[CycleSpec]) -> None:
    now = T0
    last_fail: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(cycles):
        now += spec["dt_s"] * SEC
        got, want = apply_cycle(board, ref, spec, now, last_fail)
        assert got == want, f"cycle {i}"
        rows = {(r["symbol"], r["timeframe"]): r for r in board.pairs(now)}
        for key, p in ref.pairs.items():
            r = rows[key]
            assert r["escalation_level"] == p.level, (i, key)
            assert r["breaker_open"] == p.breaker, (i, key)
            assert (r["amber_streak"], r["red_streak"], r["error_streak"], r["clean_green_streak"]) == (
                p.amber,
                p.red,
                p.error,
                p.clean_green,
            ), (i, key)
            assert r["freshness"] == colour_at(p, now), (i, key)
            assert r["last_error_code"] == ref.last_error_code(p), (i, key)
    # the run survives a JSON round trip mid-flight
    again = EscalationBoard.from_json(board.to_json())
    assert again.pairs(now) == board.pairs(now)


@PROPERTY_SETTINGS
@given(cfg=configs, cycles=st.lists(cycle_specs(PAIRS), min_size=10, max_size=60))
def test_board_matches_reference_model(cfg: Cfg, cycles: list[CycleSpec]) -> None:
    run_against_model(make_board(cfg, PAIRS), RefBoard(cfg, PAIRS), cycles)


CAL_PAIRS = (("A", "1m"), ("C", "1m"), ("C", "5m"))  # C on the calendar, A on 24/7
ON_CALENDAR = (("C", "1m"), ("C", "5m"))


@st.composite
def session_lists(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Sessions over the cycles' span (T0 to at most about T0 + 5 h), with lengths and gaps
    from 1 s (a close between two cycles, or on one) to hours; a gap of 0 makes touching
    sessions, each with its own open."""
    out = []
    t = T0 + draw(st.integers(-600, 600)) * SEC
    for _ in range(draw(st.integers(1, 8))):
        length = draw(st.sampled_from([1, 60, 90, 300, 1800]) | st.integers(1, 7200))
        out.append((t, t + length * SEC))
        t += (length + draw(st.sampled_from([0, 1, 60, 301, 900]) | st.integers(1, 3600))) * SEC
    return out


@PROPERTY_SETTINGS
@given(
    cfg=configs,
    sessions=session_lists(),
    cycles=st.lists(cycle_specs(CAL_PAIRS), min_size=10, max_size=60),
)
def test_board_on_a_calendar_matches_reference_model(
    cfg: Cfg, sessions: list[tuple[int, int]], cycles: list[CycleSpec]
) -> None:
    board = make_board(cfg, CAL_PAIRS)
    opens = np.array([o for o, _ in sessions], dtype=np.int64)
    closes = np.array([c for _, c in sessions], dtype=np.int64)
    cal = board._set_calendar("XTST", opens, closes)
    ref = RefBoard(cfg, CAL_PAIRS)
    for sym, tf in ON_CALENDAR:
        idx = board._find_pair(sym, TF_S[tf] * SEC)
        assert idx is not None
        board._set_pair_calendar(idx, cal)
        ref.pairs[(sym, tf)].sessions = sessions
    run_against_model(board, ref, cycles)
    assert [r["calendar"] for r in board.pairs(T0)] == ["24/7", "XTST", "XTST"]


# --------------------------------------------------------------------------- isolation


@PROPERTY_SETTINGS
@given(
    cfg=configs,
    cycles=st.lists(
        st.tuples(cycle_specs((("A", "1m"),)), cycle_specs((("B", "1m"),))),
        min_size=5,
        max_size=25,
    ),
)
def test_activity_on_one_pair_never_changes_another(
    cfg: Cfg, cycles: list[tuple[CycleSpec, CycleSpec]]
) -> None:
    both = make_board(cfg, (("A", "1m"), ("B", "1m")))
    only_b = make_board(cfg, (("B", "1m"),))
    ref_both = RefBoard(cfg, (("A", "1m"), ("B", "1m")))
    ref_b = RefBoard(cfg, (("B", "1m"),))
    now = T0
    fa: dict[tuple[str, str], int] = {}
    fb: dict[tuple[str, str], int] = {}
    for spec_a, spec_b in cycles:
        now += spec_b["dt_s"] * SEC
        # the A/B board sees A's activity and B's; the B board only B's
        merged: CycleInput = {
            "failures": spec_a["failures"] + spec_b["failures"],
            "closes": spec_a["closes"] + spec_b["closes"],
            "mode": "mapping",
            "ticks": {**spec_a["ticks"], **spec_b["ticks"]},
        }
        only: CycleSpec = {**spec_b, "mode": "mapping"}
        got_both, _ = apply_cycle(both, ref_both, merged, now, fa)
        got_b, _ = apply_cycle(only_b, ref_b, only, now, fb)

        def for_b(evs: list[CycleEvent], closes_a: int) -> list[CycleEvent]:
            # drop A's operator-close results and A's events
            out: list[CycleEvent] = []
            for j, e in enumerate(evs):
                if e[0] == "close":
                    if j >= closes_a:
                        out.append(e)
                elif e[1] == "B":
                    out.append(e)
            return out

        assert for_b(got_both, len(spec_a["closes"])) == got_b
        assert both.level("B", "1m") == only_b.level("B", "1m")
        assert both.breaker_open("B", "1m") == only_b.breaker_open("B", "1m")
        row_both = both.pair("B", "1m", now=now)
        row_b = only_b.pair("B", "1m", now=now)
        assert row_both == row_b


# --------------------------------------------------------------------------- circuit breaker model

# docs/semantics.md, Health core leaves some things to judgement. Where the implementation differs from what
# resilience4j and the breaker's own docstring say, the difference is pinned by a test_bug_
# test in tests/py/unit/test_health_circuit_breaker.py, and the model follows the
# implementation behind a switch so that this property checks everything else:
# - RATE_CHECK_ON_SUCCESS: evaluate the failure rate after every recorded result, not only
#   after failures;
# - PROBE_DEADLINE_FROM_PROBE: half_open_max_wait_s runs from the first probe handed out,
#   not from the moment the breaker became HALF_OPEN;
# - results are reported after state(now), so the clock is applied before a result counts
#   (the core does not do that itself).
# Flip the switches when the core is fixed.
RATE_CHECK_ON_SUCCESS = True
PROBE_DEADLINE_FROM_PROBE = True


@dataclass
class RefBreaker:
    mode: str
    threshold: int
    window: int
    pct: float
    n_calls: int
    min_calls: int
    cooldown: int
    probes: int
    max_wait: int
    state: str = "CLOSED"
    opened_at: int = 0
    half_since: int = 0
    issued: int = 0
    ok: int = 0
    fails: list[int] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)  # True: failure

    def tick(self, now: int) -> None:
        """Time-driven transitions: the end of the cooldown, and probes that never report."""
        if self.state == "OPEN" and now - self.opened_at >= self.cooldown:
            self.state, self.half_since, self.issued, self.ok = "HALF_OPEN", now, 0, 0
        elif self.state == "HALF_OPEN" and self.issued > self.ok and now - self.half_since >= self.max_wait:
            self.open(now)

    def open(self, now: int) -> None:
        self.state, self.opened_at = "OPEN", now

    def close(self) -> None:
        self.state = "CLOSED"
        self.fails.clear()
        self.outcomes.clear()

    def allow(self, now: int) -> bool:
        self.tick(now)
        if self.state == "CLOSED":
            return True
        if self.state == "HALF_OPEN" and self.issued < self.probes:
            if self.issued == 0 and PROBE_DEADLINE_FROM_PROBE:
                self.half_since = now
            self.issued += 1
            return True
        return False

    def rate_exceeded(self) -> bool:
        calls = len(self.outcomes)
        return calls >= self.min_calls and 100 * sum(self.outcomes) >= self.pct * calls

    def result(self, now: int, failed: bool) -> None:
        self.tick(now)
        if self.state == "HALF_OPEN":
            if failed:
                self.open(now)
            else:
                self.ok += 1
                if self.ok >= self.probes:
                    self.close()
        elif self.state == "CLOSED":
            if self.mode == "count":
                if failed:
                    self.fails.append(now)
                    if sum(1 for t in self.fails if now - t < self.window) >= self.threshold:
                        self.open(now)
            else:
                self.outcomes = [*self.outcomes, failed][-self.n_calls :]
                if (failed or RATE_CHECK_ON_SUCCESS) and self.rate_exceeded():
                    self.open(now)
        # OPEN: a late result is ignored


breaker_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.sampled_from([1, SEC - 1, SEC, 5 * SEC, 30 * SEC, 60 * SEC])),
        st.tuples(st.just("call"), st.booleans()),  # allow, and report at once: failure (True) or success
        st.tuples(st.just("start"), st.just(False)),  # allow; reported later by "finish", or never
        st.tuples(st.just("finish"), st.booleans()),  # report the oldest started call
        st.tuples(st.just("state"), st.just(False)),
    ),
    min_size=20,
    max_size=150,
)


def check_breaker(ref: RefBreaker, cb: CircuitBreaker, ops: list[tuple[str, Any]]) -> None:
    now = T0
    allowed = rejected = successes = failures = 0
    pending = 0
    for i, (op, arg) in enumerate(ops):
        if op == "advance":
            now += arg
            continue
        if op == "state":
            ref.tick(now)
            assert cb.state(now).name == ref.state, i
            continue
        failed = arg
        if op in ("call", "start"):
            ok = cb.allow(now)
            assert ok == ref.allow(now), i
            allowed += ok
            rejected += not ok
            if not ok or op == "start":
                pending += ok
                continue
        elif pending == 0:
            continue
        else:
            pending -= 1
        cb.state(now)  # apply the clock before the result (see above)
        if failed:
            cb.record_failure(now)
            failures += 1
        else:
            cb.record_success(now)
            successes += 1
        ref.result(now, failed)
    ref.tick(now)
    assert cb.state(now).name == ref.state
    c = cb.counts(now)
    assert (c["allowed"], c["rejected"], c["successes"], c["failures"]) == (
        allowed,
        rejected,
        successes,
        failures,
    )
    if ref.mode == "rate" and ref.state == "CLOSED":
        assert (c["window_calls"], c["window_failures"]) == (len(ref.outcomes), sum(ref.outcomes))
    if ref.mode == "count" and ref.state == "CLOSED":
        assert c["window_failures"] == min(ref.threshold, sum(1 for t in ref.fails if now - t < ref.window))
    if ref.state == "OPEN":
        assert cb.retry_after_ns(now) == ref.opened_at + ref.cooldown - now
    # transitions are recorded in order, each from the previous one's target
    hist = cb.history()
    for a, b in itertools.pairwise(hist):
        assert a["to"] == b["from"]
        assert a["at_ns"] <= b["at_ns"]
    if hist:
        assert hist[-1]["to"] == ref.state


@PROPERTY_SETTINGS
@given(
    threshold=st.integers(1, 5),
    window_s=st.sampled_from([5, 30, 300]),
    cooldown_s=st.sampled_from([1, 10, 120]),
    probes=st.integers(1, 3),
    max_wait_s=st.sampled_from([None, 2, 20]),
    ops=breaker_ops,
)
def test_circuit_breaker_count_mode_matches_model(
    threshold: int, window_s: int, cooldown_s: int, probes: int, max_wait_s: int | None, ops: list[Any]
) -> None:
    cb = CircuitBreaker(
        failure_threshold=threshold,
        window_s=window_s,
        cooldown_s=cooldown_s,
        half_open_calls=probes,
        half_open_max_wait_s=max_wait_s,
    )
    ref = RefBreaker(
        "count",
        threshold,
        window_s * SEC,
        50.0,
        100,
        10,
        cooldown_s * SEC,
        probes,
        (max_wait_s or cooldown_s) * SEC,
    )
    check_breaker(ref, cb, ops)


@PROPERTY_SETTINGS
@given(
    pct=st.sampled_from([10.0, 33.3, 50.0, 66.7, 100.0]),
    n_calls=st.integers(1, 8),
    data=st.data(),
    cooldown_s=st.sampled_from([1, 10, 120]),
    probes=st.integers(1, 3),
    max_wait_s=st.sampled_from([None, 2, 20]),
    ops=breaker_ops,
)
def test_circuit_breaker_rate_mode_matches_model(
    pct: float,
    n_calls: int,
    data: st.DataObject,
    cooldown_s: int,
    probes: int,
    max_wait_s: int | None,
    ops: list[Any],
) -> None:
    min_calls = data.draw(st.integers(1, n_calls))
    cb = CircuitBreaker(
        mode="rate",
        failure_rate_pct=pct,
        rate_window_calls=n_calls,
        min_calls=min_calls,
        cooldown_s=cooldown_s,
        half_open_calls=probes,
        half_open_max_wait_s=max_wait_s,
    )
    ref = RefBreaker(
        "rate",
        5,
        300 * SEC,
        pct,
        n_calls,
        min_calls,
        cooldown_s * SEC,
        probes,
        (max_wait_s or cooldown_s) * SEC,
    )
    check_breaker(ref, cb, ops)


def test_rate_model_opens_on_a_failure() -> None:
    """Guard for the RATE_CHECK_ON_SUCCESS switch above: with it off the model must still
    open on a failure that brings the rate over the threshold (so the property is not
    vacuous), and the known deviation is pinned elsewhere."""
    ref = RefBreaker("rate", 5, 300 * SEC, 50.0, 4, 4, 120 * SEC, 1, 120 * SEC)
    for failed in (False, False, True, True):
        ref.result(T0, failed)
    assert ref.state == "OPEN"
