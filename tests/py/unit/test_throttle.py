"""ErrorThrottle (docs/semantics.md, Guards): per-type windows, one digest per aggregation window,
resolution, the error summary, JSON state, and clear errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from montalaq import ErrorCode
from montalaq.throttle import DEFAULT_WINDOWS_S, ErrorThrottle, ThrottleDecision, format_digest

NOTIFY = ThrottleDecision.NOTIFY
SUPPRESSED = ThrottleDecision.SUPPRESSED
NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
T0_DT = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> int:
    return T0 + round(seconds * NS)


@pytest.mark.parametrize(
    ("error_type", "window_s"),
    [("STARTUP", 3600), ("WEBSOCKET", 3600), ("BROKER", 1800), ("DATABASE", 3600), ("SOMETHING_NEW", 3600)],
)
def test_first_occurrence_notifies_and_the_window_edge_is_exact(error_type: str, window_s: int) -> None:
    t = ErrorThrottle()
    assert t.window_s(error_type) == window_s
    assert t.report(error_type, "boom", now=at(0)) == NOTIFY
    assert t.report(error_type, now=at(1)) == SUPPRESSED
    assert t.report(error_type, now=at(window_s) - 1) == SUPPRESSED  # 1 ns before the edge
    assert t.report(error_type, now=at(window_s)) == NOTIFY  # [t0, t0 + window) is over
    assert t.report(error_type, now=at(window_s + 1)) == SUPPRESSED
    (row,) = t.summary()
    assert row["count"] == 5


def test_a_burst_of_five_different_errors_in_a_minute_is_one_digest() -> None:
    t = ErrorThrottle()
    types = ["STARTUP", "WEBSOCKET", "BROKER", "DATABASE", "CACHE"]
    for i, name in enumerate(types):
        assert t.report(name, f"{name} failed", now=at(i * 10)) == NOTIFY
    assert t.report("BROKER", "again", now=at(55)) == SUPPRESSED  # joins BROKER's entry
    assert t.buffered == 5
    assert t.next_flush == T0_DT + timedelta(seconds=60)
    assert t.flush(now=at(60) - 1) == []
    digests = t.flush(now=at(60))
    assert len(digests) == 1
    (digest,) = digests
    assert [e["error_type"] for e in digest] == types
    broker = digest[2]
    assert broker["count"] == 2
    assert broker["first_seen"] == T0_DT + timedelta(seconds=20)
    assert broker["last_seen"] == T0_DT + timedelta(seconds=55)
    assert broker["message"] == "BROKER failed"
    assert broker["resolved_at"] is None
    assert broker["first_seen"].tzinfo is UTC
    assert t.flush(now=at(3600)) == []  # nothing is sent twice
    assert t.next_flush is None


def test_a_notification_after_the_aggregation_window_starts_the_next_digest() -> None:
    t = ErrorThrottle(aggregation_s=60)
    t.report("A", now=at(0))
    t.report("B", now=at(60) - 1)  # still in the first digest
    t.report("C", now=at(60))  # the first digest's window has ended
    first, second = t.flush(now=at(120))  # both due, oldest first
    assert [e["error_type"] for e in first] == ["A", "B"]
    assert [e["error_type"] for e in second] == ["C"]


def test_occurrences_after_the_digest_was_sent_only_count() -> None:
    t = ErrorThrottle()
    t.report("BROKER", now=at(0))
    t.flush(now=at(60))
    assert t.report("BROKER", now=at(100)) == SUPPRESSED
    assert t.buffered == 0
    (row,) = t.summary()
    assert (row["count"], row["notifications_sent"]) == (2, 1)


def test_aggregation_zero_sends_each_notification_alone() -> None:
    t = ErrorThrottle(aggregation_s=0)
    t.report("A", now=at(0))
    t.report("B", now=at(0))
    assert len(t.flush(now=at(0))) == 2


def test_resolve_sends_one_recovery_and_the_next_occurrence_notifies_again() -> None:
    t = ErrorThrottle()
    assert t.resolve("BROKER", now=at(0)) is None  # never reported
    t.report("BROKER", "down", now=at(0))
    t.report("BROKER", now=at(10))
    t.flush(now=at(60))
    recovery = t.resolve("broker", now=at(120))
    assert recovery == {
        "error_type": "BROKER",
        "resolved_at": T0_DT + timedelta(seconds=120),
        "since": T0_DT,
        "last_seen": T0_DT + timedelta(seconds=10),
        "count": 2,
    }
    assert t.resolve("BROKER", now=at(130)) is None  # one recovery, not two
    (row,) = t.summary()
    assert row["resolved"] is True
    assert row["resolved_at"] == T0_DT + timedelta(seconds=120)
    assert row["notifications_sent"] == 2  # the digest and the recovery
    # Well inside BROKER's 1800 s window, but a new episode: it notifies.
    assert t.report("BROKER", "down again", now=at(200)) == NOTIFY
    (row,) = t.summary()
    assert row["resolved"] is False
    assert row["resolved_at"] is None


def test_resolving_a_buffered_error_folds_the_recovery_into_its_digest() -> None:
    t = ErrorThrottle()
    t.report("WEBSOCKET", "disconnected", now=at(0))
    t.report("DATABASE", now=at(1))
    assert t.resolve("WEBSOCKET", now=at(5)) is None  # never a recovery before the error
    (digest,) = t.flush(now=at(60))
    assert digest[0]["resolved_at"] == T0_DT + timedelta(seconds=5)
    assert digest[1]["resolved_at"] is None
    assert "[resolved 2026-01-01T00:00:05Z]" in format_digest(digest)
    ws = next(r for r in t.summary() if r["error_type"] == "WEBSOCKET")
    assert ws["resolved"] is True
    assert ws["notifications_sent"] == 1  # error and recovery were one message


def test_summary_rows() -> None:
    t = ErrorThrottle()
    t.report("DATABASE", now=T0_DT)
    t.report("BROKER", now=T0_DT + timedelta(seconds=5))
    t.report("BROKER", now=T0_DT + timedelta(seconds=9))
    t.flush(now=at(60))
    assert t.summary() == [
        {
            "error_type": "BROKER",
            "first_occurrence": T0_DT + timedelta(seconds=5),
            "last_occurrence": T0_DT + timedelta(seconds=9),
            "count": 2,
            "notifications_sent": 1,
            "resolved": False,
            "resolved_at": None,
        },
        {
            "error_type": "DATABASE",
            "first_occurrence": T0_DT,
            "last_occurrence": T0_DT,
            "count": 1,
            "notifications_sent": 1,
            "resolved": False,
            "resolved_at": None,
        },
    ]


def test_times_take_every_supported_form_and_default_to_the_wall_clock() -> None:
    t = ErrorThrottle()
    t.report("A", now=T0_DT)
    t.report("A", now=np.datetime64(T0 + NS, "ns"))
    t.report("B")  # wall clock
    rows = {r["error_type"]: r for r in t.summary()}
    assert rows["A"]["last_occurrence"] == T0_DT + timedelta(seconds=1)
    assert abs(rows["B"]["first_occurrence"] - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(ValueError, match="naive"):
        t.report("A", now=datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="now"):
        t.report("A", now=1.5)


def test_error_codes_and_exceptions_are_accepted() -> None:
    t = ErrorThrottle()
    t.report(ErrorCode.PROVIDER_DISCONNECTED, ConnectionError("reset by peer"), now=at(0))
    (digest,) = t.flush(now=at(60))
    assert digest[0]["error_type"] == "PROVIDER_DISCONNECTED"
    assert digest[0]["message"] == "ConnectionError: reset by peer"


def test_windows_override_the_defaults_and_fold_case() -> None:
    t = ErrorThrottle({"broker": 10, "custom": 5}, default_window_s=100)
    assert t.window_s("BROKER") == 10
    assert t.window_s("Custom") == 5
    assert t.window_s("STARTUP") == DEFAULT_WINDOWS_S["STARTUP"]
    assert t.window_s("OTHER") == 100
    assert t.default_window_s == 100
    assert t.aggregation_s == 60
    assert t.report("broker", now=at(0)) == NOTIFY
    assert t.report("BROKER", now=at(10)) == NOTIFY


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"windows": {"BROKER": 0}}, ValueError, "windows"),
        ({"windows": {"BROKER": float("nan")}}, ValueError, "windows"),
        ({"windows": {"BROKER": "60"}}, TypeError, "windows"),
        ({"windows": {"": 60}}, ValueError, "error_type"),
        ({"windows": {"bad name": 60}}, ValueError, "outside"),
        ({"windows": {"broker": 1, "BROKER": 2}}, ValueError, "same type"),
        ({"windows": [("BROKER", 1)]}, TypeError, "windows"),
        ({"aggregation_s": -1}, ValueError, "aggregation_s"),
        ({"aggregation_s": True}, TypeError, "aggregation_s"),
        ({"default_window_s": 0}, ValueError, "default_window_s"),
        ({"max_types": 0}, ValueError, "max_types"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ErrorThrottle(**kwargs)


@pytest.mark.parametrize(
    ("error_type", "error", "match"),
    [
        ("", ValueError, "non-empty"),
        (None, TypeError, "error_type"),
        (42, TypeError, "error_type"),
        ("has space", ValueError, "outside"),
        ("é", ValueError, "outside"),
        ("X" * 65, ValueError, "at most 64"),
    ],
)
def test_bad_error_types_are_clear_errors(error_type: Any, error: type[Exception], match: str) -> None:
    t = ErrorThrottle()
    with pytest.raises(error, match=match):
        t.report(error_type, now=at(0))
    with pytest.raises(error, match=match):
        t.resolve(error_type, now=at(0))
    assert t.summary() == []  # nothing recorded


def test_bad_messages_and_a_flood_of_types() -> None:
    t = ErrorThrottle(max_types=3)
    with pytest.raises(TypeError, match="message"):
        t.report("A", 42, now=at(0))
    t.report("A", None, now=at(0))  # None is no message
    t.report("B", now=at(0))
    t.report("C", now=at(0))
    with pytest.raises(ValueError, match="max_types"):
        t.report("D", now=at(1))
    assert t.report("a", now=at(2)) == SUPPRESSED  # known types keep working


def test_json_round_trip_continues_identically() -> None:
    t = ErrorThrottle({"CUSTOM": 7}, aggregation_s=30)
    t.report("BROKER", "down", now=at(0))
    t.flush(now=at(60))
    t.report("CUSTOM", "c", now=at(100))
    t.resolve("CUSTOM", now=at(101))
    t.report("DATABASE", "db ✓", now=at(102))
    text = t.to_json()
    doc = json.loads(text)
    assert doc["format"] == "montalaq.error_throttle"
    u = ErrorThrottle.from_json(text)
    assert u.to_json() == text
    assert u.window_s("CUSTOM") == 7
    for x in (t, u):
        assert x.report("CUSTOM", now=at(103)) == NOTIFY
        assert x.report("BROKER", now=at(104)) == SUPPRESSED
    assert t.flush(now=at(200)) == u.flush(now=at(200))
    assert t.summary() == u.summary()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "montalaq.operational_state", "version": 1}',
        '{"format": "montalaq.error_throttle", "version": 99}',
    ],
)
def test_a_bad_document_raises_and_changes_nothing(text: str) -> None:
    t = ErrorThrottle()
    t.report("BROKER", now=at(0))
    before = t.to_json()
    with pytest.raises(ValueError, match="error throttle document"):
        t.load_json(text)
    assert t.to_json() == before
    with pytest.raises(TypeError, match="text"):
        ErrorThrottle.from_json(b"{}")  # type: ignore[arg-type]


def test_a_tampered_document_is_refused() -> None:
    t = ErrorThrottle()
    t.report("BROKER", now=at(0))
    doc = json.loads(t.to_json())
    doc["types"][0]["count"] = -1
    with pytest.raises(ValueError, match="count"):
        ErrorThrottle.from_json(json.dumps(doc))


def test_format_digest_lists_each_type_with_its_count() -> None:
    t = ErrorThrottle()
    t.report("BROKER", "rejected", now=at(0))
    t.report("BROKER", now=at(30))
    t.report("DATABASE", now=at(40))
    (digest,) = t.flush(now=at(60))
    assert format_digest(digest) == (
        "2 error types reported\n"
        "- BROKER x2 (2026-01-01T00:00:00Z .. 2026-01-01T00:00:30Z): rejected\n"
        "- DATABASE x1 (2026-01-01T00:00:40Z)"
    )


# --- a tiny Python reference model (STYLE habit 9) --------------------------------------


class Model:
    def __init__(self, windows: dict[str, int], default: int, agg: int) -> None:
        self.windows, self.default, self.agg = windows, default, agg
        self.types: dict[str, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []  # {seq, opened, entries: {type: entry}}
        self.seq = 0

    def report(self, name: str, now: int, msg: str) -> ThrottleDecision:
        st = self.types.get(name)
        fresh = st is None
        if st is None:
            st = self.types[name] = {"first": now, "last": now, "count": 0, "sent": 0, "resolved": False}
            st.update(start=now, ep_start=now, ep_last=now, ep_count=0, pending=0, resolved_at=None)
        notify = fresh or st["resolved"] or now - st["start"] >= self.windows.get(name, self.default)
        st["first"], st["last"] = min(st["first"], now), max(st["last"], now)
        st["count"] += 1
        if notify:
            if st["resolved"]:
                st.update(ep_start=now, ep_last=now, ep_count=0)
            st.update(resolved=False, resolved_at=None, start=now)
        st["ep_count"] += 1
        st["ep_last"] = max(st["ep_last"], now)
        entry = None
        if notify:
            if not self.pending or now - self.pending[-1]["opened"] >= self.agg:
                self.seq += 1
                self.pending.append({"seq": self.seq, "opened": now, "entries": {}})
            d = self.pending[-1]
            if name not in d["entries"] or st["pending"] != d["seq"]:
                d["entries"][name] = {"count": 0, "first": now, "last": now, "msg": "", "resolved_at": None}
            st["pending"] = d["seq"]
            entry = d["entries"][name]
            entry["resolved_at"] = None
        elif st["pending"]:
            entry = next(d for d in self.pending if d["seq"] == st["pending"])["entries"][name]
        if entry is not None:
            entry["count"] += 1
            entry["last"] = max(entry["last"], now)
            entry["msg"] = entry["msg"] or msg
        return NOTIFY if notify else SUPPRESSED

    def flush(self, now: int) -> list[list[tuple[Any, ...]]]:
        out = []
        while self.pending and now - self.pending[0]["opened"] >= self.agg:
            d = self.pending.pop(0)
            for name in d["entries"]:
                self.types[name]["sent"] += 1
                if self.types[name]["pending"] == d["seq"]:
                    self.types[name]["pending"] = 0
            out.append(
                [
                    (n, e["count"], e["first"], e["last"], e["msg"], e["resolved_at"])
                    for n, e in d["entries"].items()
                ]
            )
        return out

    def resolve(self, name: str, now: int) -> tuple[Any, ...] | None:
        st = self.types.get(name)
        if st is None or st["resolved"]:
            return None
        st.update(resolved=True, resolved_at=now)
        if st["pending"]:
            next(d for d in self.pending if d["seq"] == st["pending"])["entries"][name]["resolved_at"] = now
            return None
        st["sent"] += 1
        return (name, now, st["ep_start"], st["ep_last"], st["ep_count"])


def _ns(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    return T0 + round((dt - T0_DT) / timedelta(microseconds=1)) * 1_000


ops = st.lists(
    st.tuples(
        st.sampled_from(["report", "report", "report", "flush", "resolve"]),
        st.sampled_from("ABC"),
        st.integers(0, 40),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(steps=ops, agg=st.integers(0, 20), window_a=st.integers(1, 50))
def test_agrees_with_a_reference_model(steps: list[tuple[str, str, int]], agg: int, window_a: int) -> None:
    windows = {"A": window_a * NS, "B": 15 * NS}
    t = ErrorThrottle({"A": window_a, "B": 15}, aggregation_s=agg, default_window_s=30)
    m = Model(windows, 30 * NS, agg * NS)
    now = T0
    for i, (op, name, gap) in enumerate(steps):
        now += gap * NS // 4
        if op == "report":
            assert t.report(name, f"m{i}", now=now) == m.report(name, now, f"m{i}")
        elif op == "flush":
            got = [
                [
                    (
                        e["error_type"],
                        e["count"],
                        _ns(e["first_seen"]),
                        _ns(e["last_seen"]),
                        e["message"],
                        _ns(e["resolved_at"]),
                    )
                    for e in d
                ]
                for d in t.flush(now=now)
            ]
            assert got == m.flush(now)
        else:
            r = t.resolve(name, now=now)
            expect = m.resolve(name, now)
            assert (
                None
                if r is None
                else (
                    r["error_type"],
                    _ns(r["resolved_at"]),
                    _ns(r["since"]),
                    _ns(r["last_seen"]),
                    r["count"],
                )
            ) == expect
    rows = {r["error_type"]: r for r in t.summary()}
    assert set(rows) == set(m.types)
    for name, s in m.types.items():
        row = rows[name]
        counts = (row["count"], row["notifications_sent"], row["resolved"])
        assert counts == (s["count"], s["sent"], s["resolved"])
        assert (_ns(row["first_occurrence"]), _ns(row["last_occurrence"])) == (s["first"], s["last"])
    assert ErrorThrottle.from_json(t.to_json()).to_json() == t.to_json()
