"""EscalationBoard JSON snapshots (docs/semantics.md, Time values in Python; docs/semantics.md, Health core):
a board with state in every field
round-trips to an identical board that behaves identically; malformed or foreign documents
raise ValueError and leave the board untouched; a fuzz test mutates valid documents."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from board_support import HOUR, SEC, T0, TEST_SESSIONS, drive, rich_board
from montalaq import EscalationBoard


def test_rich_board_has_state_in_every_field() -> None:
    b, _ = rich_board()
    doc = json.loads(b.to_json())
    assert doc["format"] == "montalaq.escalation_board"
    assert doc["version"] == 2
    assert doc["config"]["auto_close_cycles"] == 3
    assert len(doc["freshness"]["overrides"]) == 2
    assert doc["calendars"] == [
        {"name": "XTST", "opens": TEST_SESSIONS[0].tolist(), "closes": TEST_SESSIONS[1].tolist()}
    ]
    pairs = {(p["symbol"], p["tf_ns"]): p for p in doc["pairs"]}
    assert len(pairs) == 9
    assert pairs[("F", 60 * SEC)]["colour"] == "CLOSED"
    assert pairs[("F", 60 * SEC)]["calendar"] == "XTST"
    seen: dict[str, set[Any]] = {k: set() for k in doc["pairs"][0]}
    for p in doc["pairs"]:
        for k, v in p.items():
            seen[k].add(json.dumps(v, sort_keys=True))
    # every field takes at least two different values across the pairs
    for k, values in seen.items():
        assert len(values) >= 2, k
    assert any(p["breaker_open"] for p in doc["pairs"])
    assert any(p["failures"] for p in doc["pairs"])
    assert any(p["clean_green_streak"] > 0 and p["breaker_open"] for p in doc["pairs"])
    assert any(p["breaker_reason"].startswith("operator") for p in doc["pairs"])


def test_round_trip_is_identical_and_behaves_identically() -> None:
    b, now = rich_board()
    text = b.to_json()
    c = EscalationBoard.from_json(text)
    assert c.to_json() == text
    assert c.config() == b.config()
    assert c.pairs(now) == b.pairs(now)
    assert len(c) == len(b)
    # load_json into a board that had other state replaces all of it
    d = EscalationBoard(auto_close_cycles=9)
    d.add_pair("ZZZ", "1d")
    d.load_json(text)
    assert d.to_json() == text
    with pytest.raises(ValueError, match="unknown pair"):
        d.level("ZZZ", "1d")
    # identical future behaviour
    assert drive(b, now) == drive(c, now) == drive(d, now)


def test_a_version_1_document_loads_with_every_pair_on_24_7() -> None:
    b, now = rich_board()
    doc = json.loads(b.to_json())
    v1 = copy.deepcopy(doc)
    v1["version"] = 1
    del v1["calendars"]
    v1["pairs"] = [p for p in v1["pairs"] if p["symbol"] != "F"]  # CLOSED did not exist in version 1
    for p in v1["pairs"]:
        del p["calendar"]
    c = EscalationBoard.from_json(json.dumps(v1))
    assert [r["calendar"] for r in c.pairs(now)] == ["24/7"] * 8
    assert [r for r in b.pairs(now) if r["symbol"] != "F"] == c.pairs(now)
    again = json.loads(c.to_json())
    assert again["version"] == 2
    assert again["calendars"] == []
    with_closed = copy.deepcopy(v1)
    with_closed["pairs"][0]["colour"] = "CLOSED"
    with pytest.raises(ValueError, match=r"pairs\[0\]\.colour CLOSED needs a version 2 document"):
        EscalationBoard.from_json(json.dumps(with_closed))


def test_round_trip_of_an_empty_board() -> None:
    b = EscalationBoard()
    c = EscalationBoard.from_json(b.to_json())
    assert c.to_json() == b.to_json()
    assert len(c) == 0


def _mutated(fn: Any) -> str:
    b, _ = rich_board()
    doc = json.loads(b.to_json())
    fn(doc)
    return json.dumps(doc)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def f(doc: Any) -> None:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return f


def _drop(path: tuple[Any, ...]) -> Any:
    def f(doc: Any) -> None:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]

    return f


BAD_DOCS: dict[str, Any] = {
    "foreign format": _set(("format",), "montalaq.circuit_breaker"),
    "no format": _drop(("format",)),
    "version 3": _set(("version",), 3),
    "version 0": _set(("version",), 0),
    "version string": _set(("version",), "1"),
    "no config": _drop(("config",)),
    "config list": _set(("config",), []),
    "critical_red_streak 0": _set(("config", "critical_red_streak"), 0),
    "error_fails float": _set(("config", "error_fails"), 3.0),
    "auto_close negative": _set(("config", "auto_close_cycles"), -1),
    "fail_window 0": _set(("config", "fail_window_ns"), 0),
    "max_failures_kept huge": _set(("config", "max_failures_kept"), 10**12),
    "streak > int32": _set(("config", "warn_fails"), 2**31),
    "missing config key": _drop(("config", "breaker_red_streak")),
    "amber_mult > red_mult": _set(("freshness", "amber_mult"), 10.0),
    "red_mult string": _set(("freshness", "red_mult"), "3"),
    "amber_mult 0": _set(("freshness", "amber_mult"), 0),
    "override amber > red": _set(("freshness", "overrides", 0, "amber_after_ns"), 10**15),
    "override tf 0": _set(("freshness", "overrides", 0, "tf_ns"), 0),
    "overrides object": _set(("freshness", "overrides"), {}),
    "pairs object": _set(("pairs",), {}),
    "pair is a list": _set(("pairs", 0), []),
    "empty symbol": _set(("pairs", 0, "symbol"), ""),
    "symbol int": _set(("pairs", 0, "symbol"), 5),
    "tf_ns 0": _set(("pairs", 0, "tf_ns"), 0),
    "tf_ns negative": _set(("pairs", 0, "tf_ns"), -60 * SEC),
    "colour unknown": _set(("pairs", 0, "colour"), "PURPLE"),
    "colour lower case": _set(("pairs", 0, "colour"), "green"),
    "level unknown": _set(("pairs", 1, "level"), "FATAL"),
    "breaker_open string": _set(("pairs", 0, "breaker_open"), "true"),
    "breaker_open int": _set(("pairs", 0, "breaker_open"), 1),
    "negative streak": _set(("pairs", 2, "red_streak"), -1),
    "streak over int32": _set(("pairs", 2, "amber_streak"), 2**31),
    "streak 2**64": _set(("pairs", 2, "error_streak"), 2**64),
    "last_tick over int64": _set(("pairs", 0, "last_tick_ns"), 2**63),
    "last_tick float": _set(("pairs", 0, "last_tick_ns"), 1.5),
    "failures object": _set(("pairs", 0, "failures"), {}),
    "failure short": _set(("pairs", 0, "failures"), [[1]]),
    "failure types swapped": _set(("pairs", 0, "failures"), [["X", 1]]),
    "failure float time": _set(("pairs", 0, "failures"), [[1.5, "X"]]),
    "failures out of order": _set(("pairs", 0, "failures"), [[10, "X"], [5, "Y"]]),
    "too many failures": _set(("pairs", 0, "failures"), [[i, "X"] for i in range(51)]),
    "missing pair key": _drop(("pairs", 3, "breaker_reason")),
    "last_error_code null": _set(("pairs", 0, "last_error_code"), None),
    "no calendars": _drop(("calendars",)),
    "calendars object": _set(("calendars",), {}),
    "calendar name 24/7": _set(("calendars", 0, "name"), "24/7"),
    "calendar name empty": _set(("calendars", 0, "name"), ""),
    "calendar sessions overlap": _set(("calendars", 0, "opens", 1), T0 - 3 * HOUR),
    "calendar open after close": _set(("calendars", 0, "closes", 0), T0 - 10 * HOUR),
    "calendar lengths differ": _set(("calendars", 0, "closes"), [T0]),
    "calendar no sessions": _set(("calendars", 0), {"name": "XTST", "opens": [], "closes": []}),
    "calendar time float": _set(("calendars", 0, "opens", 0), 1.5),
    "pair calendar unknown": _set(("pairs", 0, "calendar"), "XLON"),
    "pair calendar missing": _drop(("pairs", 0, "calendar")),
    "pair calendar int": _set(("pairs", 0, "calendar"), 0),
}


def _dup_pair(doc: Any) -> None:
    doc["pairs"].append(copy.deepcopy(doc["pairs"][0]))


def _dup_calendar(doc: Any) -> None:
    doc["calendars"].append(copy.deepcopy(doc["calendars"][0]))


BAD_DOCS["duplicate pair"] = _dup_pair
BAD_DOCS["duplicate calendar"] = _dup_calendar


def _bad_texts() -> list[tuple[str, str]]:
    b, _ = rich_board()
    valid = b.to_json()
    out = [
        ("not json", "not json"),
        ("empty string", ""),
        ("truncated", valid[: len(valid) // 2]),
        ("array", "[]"),
        ("null", "null"),
        ("empty object", "{}"),
        ("NaN literal", valid.replace('"amber_mult":1.25', '"amber_mult":NaN')),
        ("huge float", valid.replace('"amber_mult":1.25', '"amber_mult":1e400')),
        ("trailing garbage", valid + "}"),
    ]
    out += [(name, _mutated(fn)) for name, fn in BAD_DOCS.items()]
    return out


BAD_TEXTS = _bad_texts()


@pytest.mark.parametrize(("name", "text"), BAD_TEXTS, ids=[n for n, _ in BAD_TEXTS])
def test_malformed_document_raises_and_leaves_board_unchanged(name: str, text: str) -> None:
    b, now = rich_board()
    before = b.to_json()
    rows_before = b.pairs(now)
    with pytest.raises(ValueError, match=r"document|JSON"):
        b.load_json(text)
    assert b.to_json() == before, name
    assert b.pairs(now) == rows_before
    with pytest.raises(ValueError, match=r"document|JSON"):
        EscalationBoard.from_json(text)


def test_from_json_needs_a_string() -> None:
    with pytest.raises(TypeError, match="text"):
        EscalationBoard.from_json(b"{}")  # type: ignore[arg-type]


def test_error_message_names_the_field() -> None:
    b = EscalationBoard()
    with pytest.raises(ValueError, match=r"pairs\[0\]\.colour"):
        b.load_json(_mutated(_set(("pairs", 0, "colour"), "PURPLE")))
    with pytest.raises(ValueError, match=r"config\.error_fails"):
        b.load_json(_mutated(_set(("config", "error_fails"), 0)))
    with pytest.raises(ValueError, match="repeats"):
        b.load_json(_mutated(_dup_pair))


def test_bug_board_json_accepts_timeframe_the_api_cannot_label() -> None:
    """load_json accepts any tf_ns >= 1, but the Python API labels timeframes in whole
    seconds: after loading a pair with tf_ns = 1.5 s, every evaluate() and pairs() raises
    "timeframe_label: tf_ns must be a whole number of seconds" — the board is poisoned.
    Repro: doc = json.loads(board.to_json()); doc["pairs"][0]["tf_ns"] = 1_500_000_000;
    board.load_json(json.dumps(doc)); board.evaluate(now). Expected: load_json rejects it
    with ValueError (board unchanged), or the API copes with it."""
    b = EscalationBoard()
    b.add_pair("A", "1m")
    doc = json.loads(b.to_json())
    doc["pairs"][0]["tf_ns"] = 1_500_000_000
    try:
        b.load_json(json.dumps(doc))
    except ValueError:
        return  # rejecting it is a fix
    b.evaluate(T0, {("B", "1m"): T0})
    assert len(b.pairs(T0)) == 2


# --------------------------------------------------------------------------- fuzz

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 0.5, 1.0, 3.0]),
    st.text(max_size=8),
    st.sampled_from(
        [
            "GREEN",
            "AMBER",
            "RED",
            "CLOSED",
            "INFO",
            "WARN",
            "ERROR",
            "CRITICAL",
            "OPEN",
            "",
            "montalaq",
            "24/7",
        ]
    ),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    obj = doc
    for k in path[:-1]:
        obj = obj[k]
    return obj


def _base_docs() -> list[str]:
    b, _ = rich_board()
    small = EscalationBoard(auto_close_cycles=2)
    small.record_failure("X", "1m", T0, "E")
    small.evaluate(T0 + SEC, {("X", "1m"): T0})
    return [b.to_json(), small.to_json(), EscalationBoard().to_json()]


BASE_DOCS = _base_docs()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_load_succeeds_cleanly_or_raises_value_error(data: st.DataObject) -> None:
    doc = json.loads(data.draw(st.sampled_from(BASE_DOCS)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        op = data.draw(
            st.sampled_from(
                ["drop", "replace", "int", "dup_pair", "swap_type", "enum", "nudge", "flip", "text"]
            )
        )
        if op == "dup_pair":
            pairs = doc.get("pairs") if isinstance(doc, dict) else None
            if isinstance(pairs, list) and pairs:
                pairs.append(copy.deepcopy(pairs[data.draw(st.integers(0, len(pairs) - 1))]))
            continue
        if not paths:
            doc = data.draw(JSON_VALUES)
            break
        path = data.draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        key = path[-1]
        v = parent[key]
        if op == "drop":
            del parent[key]
        elif op == "int":
            parent[key] = data.draw(
                st.sampled_from([0, -1, 1, 7, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 10**25])
            )
        elif op == "enum":
            parent[key] = data.draw(
                st.sampled_from(
                    ["RED", "CRITICAL", "OPEN", "Red", "red ", "HALF_OPEN", "CLOSED", "XTST", "24/7"]
                )
            )
        elif op == "swap_type":
            parent[key] = [v] if not isinstance(v, list) else {"v": v} if data.draw(st.booleans()) else str(v)
        elif op == "nudge" and isinstance(v, int) and not isinstance(v, bool):
            parent[key] = v + data.draw(st.integers(-3, 3)) if abs(v) > 10 else data.draw(st.integers(-1, 12))
        elif op == "flip" and isinstance(v, bool):
            parent[key] = not v
        elif op == "text" and isinstance(v, str):
            parent[key] = data.draw(st.text(max_size=6))
        elif op == "replace":
            parent[key] = data.draw(JSON_VALUES)
    text = json.dumps(doc)

    b, now = rich_board()
    before = b.to_json()
    try:
        b.load_json(text)
    except ValueError:
        event("rejected")
        assert b.to_json() == before
        return
    event("loaded")
    # it loaded: it re-serialises, reloads identically, and the native core can run it
    out = b.to_json()
    again = EscalationBoard.from_json(out)
    assert again.to_json() == out
    assert json.loads(out)["format"] == "montalaq.escalation_board"
    native_events = b._evaluate(now)  # the native cycle, without the Python labelling
    assert isinstance(native_events, list)
    tfs = [p["tf_ns"] for p in json.loads(out)["pairs"]]
    if all(tf % SEC == 0 for tf in tfs):  # see test_bug_board_json_accepts_timeframe_the_api_cannot_label
        b.evaluate(now + 60 * SEC)
        assert len(b.pairs(now)) == len(tfs)
