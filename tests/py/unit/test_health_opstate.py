"""OperationalState (docs/semantics.md, Health core): STARTING->ACTIVE|WAITING|ERROR, ACTIVE->WAITING|ERROR,
WAITING->ACTIVE|ERROR, ERROR->STARTING, any->SHUTDOWN; anything else raises
InvalidTransitionError (a ValueError) and changes nothing; each state records when it was
entered and why; JSON snapshots."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from montalaq import InvalidTransitionError, OperationalState, OpState
from montalaq._core.health import allowed_transition

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC
S = OpState
ALLOWED: set[tuple[OpState, OpState]] = {
    (S.STARTING, S.ACTIVE),
    (S.STARTING, S.WAITING),
    (S.STARTING, S.ERROR),
    (S.ACTIVE, S.WAITING),
    (S.ACTIVE, S.ERROR),
    (S.WAITING, S.ACTIVE),
    (S.WAITING, S.ERROR),
    (S.ERROR, S.STARTING),
} | {(s, S.SHUTDOWN) for s in (S.STARTING, S.ACTIVE, S.WAITING, S.ERROR)}
ALLOWED_BY_VALUE = sorted(ALLOWED, key=lambda p: (int(p[0]), int(p[1])))
ALL_STATES = list(S.__members__.values())
# the shortest allowed route from STARTING to each state
ROUTE = {
    S.STARTING: [],
    S.ACTIVE: [S.ACTIVE],
    S.WAITING: [S.WAITING],
    S.ERROR: [S.ERROR],
    S.SHUTDOWN: [S.SHUTDOWN],
}


def machine_in(state: OpState) -> OperationalState:
    m = OperationalState(now=T0, reason="boot")
    for i, step in enumerate(ROUTE[state]):
        assert m.transition(step, T0 + (i + 1) * SEC, f"to {step.name}")
    assert m.state == state
    return m


def test_initial_state() -> None:
    m = OperationalState(now=T0)
    assert m.state == S.STARTING
    assert m.entered_at_ns == T0
    assert m.entered_at == datetime.fromtimestamp(T0 / SEC, tz=UTC)
    assert m.entered_at.tzinfo is not None
    assert m.reason == "created"
    assert m.history() == []
    wall = OperationalState()
    assert abs(wall.entered_at.timestamp() - datetime.now(UTC).timestamp()) < 60


@pytest.mark.parametrize(("src", "dst"), ALLOWED_BY_VALUE)
def test_every_allowed_transition_succeeds(src: OpState, dst: OpState) -> None:
    m = machine_in(src)
    n = len(m.history())
    assert m.transition(dst, T0 + 100 * SEC, "why not") is True
    assert m.state == dst
    assert m.entered_at_ns == T0 + 100 * SEC
    assert m.reason == "why not"
    h = m.history()
    assert len(h) == n + 1
    assert h[-1] == {"at_ns": T0 + 100 * SEC, "from": src.name, "to": dst.name, "reason": "why not"}
    assert allowed_transition(src, dst)


FORBIDDEN = [
    (a, b)
    for a, b in itertools.product(ALL_STATES, ALL_STATES)
    if (a, b) not in ALLOWED and (a, b) != (S.SHUTDOWN,) * 2
]


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN)
def test_every_other_transition_raises_and_changes_nothing(src: OpState, dst: OpState) -> None:
    m = machine_in(src)
    before = (m.state, m.entered_at_ns, m.reason, m.history(), m.to_json())
    with pytest.raises(InvalidTransitionError, match=f"{src.name} -> {dst.name}"):
        m.transition(dst, T0 + 100 * SEC, "nope")
    with pytest.raises(ValueError, match="not allowed"):
        m.move(dst.name.lower(), "nope", now=T0 + 100 * SEC)
    assert (m.state, m.entered_at_ns, m.reason, m.history(), m.to_json()) == before
    assert not allowed_transition(src, dst)


def test_invalid_transition_is_a_value_error() -> None:
    assert issubclass(InvalidTransitionError, ValueError)


def test_forbidden_list_is_complete() -> None:
    # 25 pairs = 12 allowed + SHUTDOWN->SHUTDOWN + 12 forbidden
    assert len(ALLOWED) == 12
    assert len(FORBIDDEN) == 12


def test_shutdown_twice_returns_false_and_changes_nothing() -> None:
    m = machine_in(S.ACTIVE)
    assert m.move("SHUTDOWN", "sigterm", now=T0 + 10 * SEC) is True
    before = (m.entered_at_ns, m.reason, m.history())
    assert m.move(S.SHUTDOWN, "second sigterm", now=T0 + 20 * SEC) is False
    assert m.state == S.SHUTDOWN
    assert (m.entered_at_ns, m.reason, m.history()) == before
    assert before[1] == "sigterm"


def test_move_by_name_and_bad_names() -> None:
    m = OperationalState(now=T0)
    assert m.move("active", "ready", now=T0 + SEC)
    assert m.state == S.ACTIVE
    assert m.move("Waiting", now=datetime.fromtimestamp(T0 / SEC + 2, tz=UTC))
    assert m.entered_at_ns == T0 + 2 * SEC
    with pytest.raises(ValueError, match="unknown state 'PAUSED'"):
        m.move("PAUSED")
    with pytest.raises(ValueError, match="to: unknown state"):
        m.move(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        m.move("ACTIVE", now=datetime(2024, 1, 1))
    assert m.state == S.WAITING


def test_full_lifecycle_history() -> None:
    m = OperationalState(now=T0, reason="process start")
    steps = [
        (S.ACTIVE, "feeds up"),
        (S.WAITING, "market closed"),
        (S.ACTIVE, "market open"),
        (S.ERROR, "exchange down"),
        (S.STARTING, "operator restart"),
        (S.ACTIVE, "feeds up again"),
        (S.SHUTDOWN, "sigterm"),
    ]
    for i, (to, why) in enumerate(steps, start=1):
        assert m.transition(to, T0 + i * SEC, why)
    h = m.history()
    assert [(e["from"], e["to"], e["reason"]) for e in h] == [
        ("STARTING", "ACTIVE", "feeds up"),
        ("ACTIVE", "WAITING", "market closed"),
        ("WAITING", "ACTIVE", "market open"),
        ("ACTIVE", "ERROR", "exchange down"),
        ("ERROR", "STARTING", "operator restart"),
        ("STARTING", "ACTIVE", "feeds up again"),
        ("ACTIVE", "SHUTDOWN", "sigterm"),
    ]
    assert [e["at_ns"] for e in h] == [T0 + i * SEC for i in range(1, 8)]
    assert m.reason == "sigterm"
    assert m.entered_at_ns == T0 + 7 * SEC


def test_history_is_bounded() -> None:
    m = OperationalState(now=T0)
    for i in range(150):
        m.transition(S.ACTIVE if i % 2 == 0 else S.WAITING, T0 + i, str(i))
    h = m.history()
    assert len(h) == 100
    assert h[-1]["reason"] == "149"
    assert h[0]["reason"] == "50"


# --------------------------------------------------------------------------- JSON


def test_json_round_trip() -> None:
    m = OperationalState(now=T0, reason="boot")
    m.move("ACTIVE", "up", now=T0 + SEC)
    m.move("ERROR", "exchange down", now=T0 + 2 * SEC)
    text = m.to_json()
    doc = json.loads(text)
    assert doc["format"] == "montalaq.operational_state"
    assert doc["state"] == "ERROR"
    assert doc["reason"] == "exchange down"
    c = OperationalState.from_json(text)
    assert c.to_json() == text
    assert (c.state, c.entered_at_ns, c.reason, c.history()) == (
        m.state,
        m.entered_at_ns,
        m.reason,
        m.history(),
    )
    # and it behaves the same afterwards
    for x in (m, c):
        with pytest.raises(InvalidTransitionError):
            x.move("ACTIVE")
        x.move("STARTING", "operator", now=T0 + 3 * SEC)
    assert c.to_json() == m.to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="montalaq.circuit_breaker"),
        lambda d: d.update(version=0),
        lambda d: d.update(state="SLEEPING"),
        lambda d: d.update(state=1),
        lambda d: d.update(entered_at_ns="yesterday"),
        lambda d: d.update(entered_at_ns=2**64),
        lambda d: d.update(reason=None),
        lambda d: d.update(history_capacity=0),
        lambda d: d.update(history={}),
        lambda d: d.update(history=[{"at_ns": 1, "from": "SHUTDOWN", "to": "ACTIVE", "reason": ""}]),
        lambda d: d.update(history=[{"at_ns": 1, "from": "ACTIVE", "to": "ACTIVE", "reason": ""}]),
        lambda d: d.update(history=[{"at_ns": 1, "from": "ACTIVE", "to": "ERROR"}]),
        lambda d: d.update(history_capacity=1),  # fewer than the two entries held
        lambda d: d.pop("state"),
    ],
)
def test_bad_document_raises_value_error_and_changes_nothing(mutate: object) -> None:
    m = OperationalState(now=T0)
    m.move("ACTIVE", "up", now=T0 + SEC)
    m.move("WAITING", "idle", now=T0 + 2 * SEC)
    before = m.to_json()
    doc = json.loads(before)
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ValueError, match="operational state document"):
        m.load_json(json.dumps(doc))
    with pytest.raises(ValueError, match="operational state document"):
        OperationalState.from_json(json.dumps(doc))
    assert m.to_json() == before
    for text in ("", "not json", "[]"):
        with pytest.raises(ValueError, match="operational state document"):
            m.load_json(text)
    assert m.to_json() == before
