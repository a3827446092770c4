"""EscalationBoard binary snapshots (docs/semantics.md, "Binary snapshots"): ``to_bytes`` /
``from_bytes`` / ``load_bytes`` keep everything ``to_json`` keeps and the board behaves
identically after a round trip (random boards, hypothesis); a truncated, corrupt or
foreign snapshot raises ValueError saying what is wrong and leaves the board untouched."""

from __future__ import annotations

import json
import random
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from board_support import SEC, T0, TEST_SESSIONS, drive, rich_board
from montalaq import EscalationBoard, Freshness

MINUTE = 60 * SEC


def test_round_trip_keeps_everything_to_json_keeps_and_behaves_identically() -> None:
    b, now = rich_board()
    data = b.to_bytes()
    assert isinstance(data, bytes)
    assert data[:4] == b"MQEB"
    assert struct.unpack_from("<HHQ", data, 4) == (1, 0, len(data))
    c = EscalationBoard.from_bytes(data)
    assert c.to_json() == b.to_json()
    assert c.to_bytes() == data
    assert c.config() == b.config()
    assert c.pairs(now) == b.pairs(now)
    assert drive(b, now) == drive(c, now)


def test_load_bytes_replaces_all_state_and_takes_any_bytes_like() -> None:
    b, _ = rich_board()
    data = b.to_bytes()
    for form in (data, bytearray(data), memoryview(data)):
        d = EscalationBoard(auto_close_cycles=9)
        d.add_pair("ZZZ", "1d")
        d.load_bytes(form)
        assert d.to_json() == b.to_json()
        with pytest.raises(ValueError, match="unknown pair"):
            d.level("ZZZ", "1d")
    assert EscalationBoard.from_bytes(EscalationBoard().to_bytes()).to_json() == EscalationBoard().to_json()


def test_the_snapshot_is_much_smaller_than_the_json() -> None:
    b = EscalationBoard()
    b.add_pairs([f"SYM{i}" for i in range(500)], ["1m", "5m", "1h"])
    b.evaluate(T0, np.full(len(b), T0 - SEC, dtype=np.int64))
    assert len(b.to_bytes()) * 3 < len(b.to_json())


def _untouched(b: EscalationBoard, now: int, bad: bytes, match: str) -> None:
    before = b.to_json()
    rows = b.pairs(now)
    with pytest.raises(ValueError, match=match):
        b.load_bytes(bad)
    assert b.to_json() == before
    assert b.pairs(now) == rows
    with pytest.raises(ValueError, match=match):
        EscalationBoard.from_bytes(bad)


def test_every_truncation_is_refused_and_the_board_untouched() -> None:
    src, now = rich_board()
    data = src.to_bytes()
    b, _ = rich_board()
    b.record_failure("A", "1m", now, "KEEP_ME")
    for cut in range(len(data)):
        _untouched(b, now, data[:cut], "escalation board snapshot: snapshot truncated")
    with pytest.raises(ValueError, match=rf"expected {len(data)} bytes, got 40"):
        EscalationBoard.from_bytes(data[:40])


def test_changed_bytes_are_refused_and_the_board_untouched() -> None:
    src, now = rich_board()
    data = src.to_bytes()
    b, _ = rich_board()
    rng = random.Random(5)
    positions = list(range(20)) + rng.sample(range(20, len(data)), 400)
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= rng.randrange(1, 256)
        _untouched(b, now, bytes(bad), "escalation board snapshot: ")


def _resealed(data: bytes, edit: Any) -> bytes:
    """``data`` edited, with its length and checksum made right again (the CRC-32C of
    every byte before the trailer), so the loader's checks behind the frame meet the edit."""
    crc32c = _crc32c_table()
    body = bytearray(data[:-4])
    edit(body)
    struct.pack_into("<Q", body, 8, len(body) + 4)
    crc = 0xFFFFFFFF
    for byte in body:
        crc = (crc >> 8) ^ crc32c[(crc ^ byte) & 0xFF]
    return bytes(body) + struct.pack("<I", crc ^ 0xFFFFFFFF)


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


def test_errors_say_what_is_wrong() -> None:
    b = EscalationBoard()
    b.add_pair("X", "1m")
    data = b.to_bytes()
    assert _resealed(data, lambda body: None) == data  # the test's CRC-32C is the core's
    assert zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]  # not the zlib CRC-32
    # One pair, no overrides or calendars: the header is 120 bytes, then the pair columns;
    # the level is at 120 + 75, warn_fails at 68.
    cases = {
        "unknown version 3": _resealed(data, lambda body: struct.pack_into("<H", body, 4, 3)),
        "checksum mismatch": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:],
        "trailing bytes": data + b"\0",
        r"bad magic \[7b 22 [0-9a-f ]+\], expected 'MQEB' \(a JSON document loads with from_json": (
            b.to_json().encode()
        ),
        r"pairs\[0\]\.level 9 is unknown": _resealed(data, lambda body: body.__setitem__(195, 9)),
        "config: warn_fails must be >= 1, got 0": _resealed(
            data, lambda body: struct.pack_into("<i", body, 68, 0)
        ),
    }
    for match, bad in cases.items():
        _untouched(b, T0, bad, match)
    with pytest.raises(TypeError, match="data: expected bytes"):
        EscalationBoard.from_bytes(b.to_json())  # type: ignore[arg-type]


def test_snapshot_keeps_calendars_and_closed_pairs() -> None:
    b = EscalationBoard()
    b._add_pair("F", MINUTE, b._set_calendar("XTST", *TEST_SESSIONS))
    b.evaluate(T0)
    c = EscalationBoard.from_bytes(b.to_bytes())
    assert c.pair("F", "1m", T0)["freshness"] == "CLOSED"
    assert c.pair("F", "1m", T0)["calendar"] == "XTST"


# --------------------------------------------------------------- random boards


@st.composite
def boards(draw: st.DrawFn) -> tuple[EscalationBoard, int, random.Random]:
    """A board built by a random sequence of the calls that change it; returns (board,
    now, a seeded Random for the cycles that follow)."""
    b = EscalationBoard(
        Freshness(amber_mult=draw(st.sampled_from([1.0, 1.5, 2.0])), red_mult=3.0),
        auto_close_cycles=draw(st.integers(0, 3)),
        warn_fails=draw(st.integers(1, 3)),
        max_failures_kept=draw(st.integers(1, 5)),
    )
    symbols = draw(
        st.lists(st.sampled_from(["A", "B", "CC", "DDD", "é"]), min_size=1, max_size=4, unique=True)
    )
    b.add_pairs(
        symbols, draw(st.lists(st.sampled_from(["1m", "5m", "1h"]), min_size=1, max_size=3, unique=True))
    )
    if draw(st.booleans()):
        b._add_pair("CAL", MINUTE, b._set_calendar("XTST", *TEST_SESSIONS))
    now = T0 + draw(st.integers(-3 * 3600, 3 * 3600)) * SEC
    for _ in range(draw(st.integers(0, 12))):
        now += draw(st.integers(1, 400)) * SEC
        action = draw(st.sampled_from(["evaluate", "ticks", "fail", "close"]))
        pairs = b.pairs(now)
        pick = pairs[draw(st.integers(0, len(pairs) - 1))]
        if action == "fail":
            b.record_failure(pick["symbol"], pick["timeframe"], now - draw(st.integers(0, 600)) * SEC, "E1")
        elif action == "close":
            b.close_breaker(pick["symbol"], pick["timeframe"], by="op", now=now)
        elif action == "ticks":
            ages = draw(st.lists(st.integers(-5, 900), min_size=len(b), max_size=len(b)))
            b.set_last_ticks(np.array([0 if a < 0 else now - a * SEC for a in ages], dtype=np.int64))
        else:
            b.evaluate(now)
    return b, now, random.Random(draw(st.integers(0, 2**32)))


def _cycles(b: EscalationBoard, now: int, rng: random.Random) -> list[Any]:
    out: list[Any] = []
    for _ in range(4):
        now += rng.randrange(1, 300) * SEC
        if rng.random() < 0.3:
            b.record_failure("A" if b._find_pair("A", MINUTE) is not None else "CAL", "1m", now, "E2")
        ticks = np.array(
            [0 if rng.random() < 0.2 else now - rng.randrange(0, 600) * SEC for _ in range(len(b))]
        )
        out.append(b.evaluate(now, ticks.astype(np.int64)))
        out.append(b.pairs(now))
    out.append(b.to_json())
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=boards())
def test_random_boards_round_trip_and_evaluate_identically(
    case: tuple[EscalationBoard, int, random.Random],
) -> None:
    b, now, rng = case
    data = b.to_bytes()
    c = EscalationBoard.from_bytes(data)
    assert c.to_json() == b.to_json()
    seed = rng.random()
    assert _cycles(b, now, random.Random(seed)) == _cycles(c, now, random.Random(seed))


def test_set_auto_close_cycles_keeps_the_state_and_checks_its_argument() -> None:
    board, _ = rich_board()
    before = json.loads(board.to_json())
    board.set_auto_close_cycles(7)
    after = json.loads(board.to_json())
    assert after["config"]["auto_close_cycles"] == board.config()["auto_close_cycles"] == 7
    after["config"]["auto_close_cycles"] = before["config"]["auto_close_cycles"]
    assert after == before
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises((ValueError, TypeError), match="auto_close_cycles"):
            board.set_auto_close_cycles(bad)  # type: ignore[arg-type]  # wrong on purpose
    assert board.config()["auto_close_cycles"] == 7
