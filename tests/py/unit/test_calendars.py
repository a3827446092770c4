"""Market calendars (docs/semantics.md, "Market calendars"): exchange sessions from
exchange_calendars, and what they do to pairs on the escalation board -- CLOSED outside the
sessions, freshness from the open inside them -- down to a five-day SPY replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import montalaq
from montalaq import Colour, EscalationBoard, MarketEngine, calendars
from montalaq.shapes import EscalationEvent
from mtq_support import SPY_FILES

SEC = 1_000_000_000
MIN = 60 * SEC
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * SEC


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", [None, "", "24/7", "24x7", "24X7", " 24/7 "])
def test_always_open_names_normalize_to_24_7(name: str | None) -> None:
    assert calendars.normalize(name) == "24/7"


def test_exchange_names_are_matched_without_regard_to_case() -> None:
    assert calendars.normalize("xnys") == "XNYS"
    assert calendars.normalize("NYSE") == "NYSE"  # an alias keeps the name it was given
    assert calendars.normalize("us_futures") == "us_futures"  # the library's own spelling


def test_unknown_calendar_names_the_problem_and_some_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown market calendar 'XNOPE'.*XNYS, XNAS, XLON"):
        calendars.normalize("XNOPE")
    with pytest.raises(ValueError, match="unknown market calendar"):
        calendars.is_open("NOT A CALENDAR", utc(2024, 7, 1, 15))
    with pytest.raises(TypeError, match="calendar: expected a calendar name"):
        calendars.normalize(7)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sessions


def test_xnys_is_closed_on_independence_day_2024() -> None:
    assert not calendars.is_open("XNYS", utc(2024, 7, 4, 15))
    assert calendars.is_open("XNYS", utc(2024, 7, 3, 15))
    assert calendars.is_open("XNYS", utc(2024, 7, 5, 15))


def test_xnys_closes_early_the_day_after_thanksgiving_2024() -> None:
    assert calendars.is_open("XNYS", utc(2024, 11, 29, 15))
    assert calendars.is_open("XNYS", utc(2024, 11, 29, 17, 59))
    assert not calendars.is_open("XNYS", utc(2024, 11, 29, 18))  # 13:00 ET: [open, close)
    assert not calendars.is_open("XNYS", utc(2024, 11, 29, 18, 30))
    assert calendars.is_open("XNYS", datetime(2024, 11, 29, 14, 30, tzinfo=UTC))  # the open itself


def test_xnse_is_an_alias_of_xbom() -> None:
    assert calendars.normalize("xnse") == "XNSE"
    nse, bse = calendars.sessions("XNSE"), calendars.sessions("XBOM")
    assert np.array_equal(nse[0], bse[0])
    assert np.array_equal(nse[1], bse[1])
    # 2024-07-04 (a Thursday) 10:30 IST is 05:00 UTC; 2024-07-06 is a Saturday
    assert calendars.is_open("XNSE", utc(2024, 7, 4, 5))
    assert not calendars.is_open("XNSE", utc(2024, 7, 6, 5))


def test_a_lunch_break_splits_the_day_into_two_sessions() -> None:
    opens, closes = calendars.sessions("XTKS")
    day = np.flatnonzero((opens >= utc(2024, 1, 5)) & (opens < utc(2024, 1, 6)))
    assert [(int(opens[i]), int(closes[i])) for i in day] == [
        (utc(2024, 1, 5, 0), utc(2024, 1, 5, 2, 30)),
        (utc(2024, 1, 5, 3, 30), utc(2024, 1, 5, 6)),
    ]
    assert not calendars.is_open("XTKS", utc(2024, 1, 5, 3))


def test_touching_sessions_are_one() -> None:
    opens, closes = calendars.sessions("24/5")
    # Monday 00:00 to Saturday 00:00 UTC, one session a week
    week = np.flatnonzero(opens == utc(2024, 7, 1))
    assert week.size == 1
    assert int(closes[week[0]]) == utc(2024, 7, 6)
    assert np.all(opens[1:] > closes[:-1])


def test_sessions_are_cached_read_only_and_cover_twenty_years() -> None:
    opens, closes = calendars.sessions("XNYS")
    assert calendars.sessions("xnys")[0] is opens
    assert not opens.flags.writeable
    assert not closes.flags.writeable
    assert opens.dtype == closes.dtype == np.int64
    assert np.all(opens < closes)
    assert np.all(opens[1:] > closes[:-1])  # touching sessions were merged
    assert int(opens[0]) <= utc(2013, 10, 7)  # the SPY tape below
    assert int(closes[-1]) > utc(2026, 1, 1)


def test_24_7_is_always_open() -> None:
    assert calendars.is_open(None, 1)
    opens, closes = calendars.sessions("24/7")
    assert (opens.tolist(), closes.tolist()) == ([-(2**63)], [2**63 - 1])


# --------------------------------------------------------------------------- the board


def test_pairs_on_a_calendar_carry_it_and_share_one_registration() -> None:
    b = EscalationBoard()
    b.add_pairs(["SPY", "QQQ"], ["1m", "5m"], calendar="xnys")
    b.add_pair("BTC", "1m")
    rows = {(r["symbol"], r["timeframe"]): r["calendar"] for r in b.pairs(utc(2024, 7, 1, 15))}
    assert rows == {
        ("SPY", "1m"): "XNYS",
        ("SPY", "5m"): "XNYS",
        ("QQQ", "1m"): "XNYS",
        ("QQQ", "5m"): "XNYS",
        ("BTC", "1m"): "24/7",
    }
    doc = json.loads(b.to_json())
    assert [c["name"] for c in doc["calendars"]] == ["XNYS"]
    # None keeps a pair's calendar; a name moves it
    b.add_pair("SPY", "1m")
    assert b.pair("SPY", "1m")["calendar"] == "XNYS"
    b.add_pair("SPY", "1m", calendar="24/7")
    assert b.pair("SPY", "1m")["calendar"] == "24/7"
    with pytest.raises(ValueError, match="unknown market calendar"):
        b.add_pair("NEW", "1m", calendar="XNOPE")
    assert len(b) == 5


def test_a_pair_is_closed_on_a_holiday_and_green_from_the_open() -> None:
    b = EscalationBoard()
    b.add_pair("SPY", "1m", calendar="XNYS")
    b.add_pair("BTC", "1m")
    assert [e["symbol"] for e in b.evaluate(utc(2024, 7, 4, 15))] == ["BTC"]  # never traded: RED
    assert b.pair("SPY", "1m")["freshness"] == "CLOSED"
    assert Colour.__members__[b.pair("SPY", "1m")["freshness"]] == Colour.CLOSED
    # 2024-07-05 09:30 ET: open, and GREEN for 90 s although SPY never traded
    events = b.evaluate(utc(2024, 7, 5, 13, 31), {("BTC", "1m"): utc(2024, 7, 5, 13, 31)})
    assert [e["symbol"] for e in events] == ["BTC"]  # back to INFO
    assert b.pair("SPY", "1m")["freshness"] == "GREEN"
    b.evaluate(utc(2024, 7, 5, 13, 32))
    assert b.pair("SPY", "1m")["freshness"] == "AMBER"


def test_a_loaded_board_takes_this_process_sessions_on_first_use() -> None:
    b = EscalationBoard()
    b.add_pair("SPY", "1m", calendar="XNYS")
    doc = json.loads(b.to_json())
    doc["calendars"][0]["opens"] = doc["calendars"][0]["opens"][:10]  # an old snapshot's few sessions
    doc["calendars"][0]["closes"] = doc["calendars"][0]["closes"][:10]
    c = EscalationBoard.from_json(json.dumps(doc))
    assert json.loads(c.to_json()) == doc
    c.add_pair("QQQ", "1m", calendar="XNYS")
    assert json.loads(c.to_json())["calendars"] == json.loads(b.to_json())["calendars"]


# --------------------------------------------------------------------------- acceptance: SPY tape


Timeline = list[tuple[int, dict[str, str]]]


def replay_spy(
    load_trades: Callable[[str], montalaq.Trades], calendar: str | None
) -> tuple[Timeline, list[EscalationEvent], EscalationBoard]:
    """The five-day SPY tape through an engine and a board with SPY 1m and 5m, evaluated once
    per simulated minute from the first trade to the last; returns each cycle's time and
    colours by timeframe, every event, and the board."""
    tape = [load_trades(rel) for rel in SPY_FILES]
    ts = np.concatenate([t.ts_ns for t in tape])
    price = np.concatenate([t.price for t in tape])
    size = np.concatenate([t.size for t in tape])
    engine = MarketEngine(("1m", "5m"))
    board = EscalationBoard()
    board.add_pairs(["SPY"], ["1m", "5m"], calendar=calendar)
    timeline: Timeline = []
    events: list[EscalationEvent] = []
    fed = 0
    now = int(ts[0]) - int(ts[0]) % MIN + MIN
    while fed < len(ts):
        upto = int(np.searchsorted(ts, now, side="right"))
        if upto > fed:
            engine.on_trades("SPY", ts[fed:upto], price[fed:upto], size[fed:upto])
            fed = upto
        events += board.evaluate(now, engine)
        timeline.append((now, {r["timeframe"]: r["freshness"] for r in board.pairs(now)}))
        now += MIN
    return timeline, events, board


def new_york(ts_ns: int) -> time:
    return datetime.fromtimestamp(ts_ns / SEC, NEW_YORK).time()


def test_spy_week_on_xnys_is_green_in_sessions_closed_outside_and_opens_no_breaker(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    timeline, events, board = replay_spy(load_trades, "XNYS")
    assert len(timeline) == 6720  # 2013-10-07 04:01 to 10-11 20:00 ET
    in_session = [calendars.is_open("XNYS", now) for now, _ in timeline]
    assert sum(in_session) == 5 * 390  # five regular sessions, 09:30-15:59 ET
    for (now, colours), open_ in zip(timeline, in_session, strict=True):
        # SPY trades every second in a session (and the open counts as a tick); pre-market,
        # after-hours and nights are CLOSED, never AMBER or RED.
        assert colours == ({"1m": "GREEN", "5m": "GREEN"} if open_ else {"1m": "CLOSED", "5m": "CLOSED"}), now
    assert events == []  # no level change, no breaker
    assert [(r["escalation_level"], r["breaker_open"]) for r in board.pairs()] == [("INFO", False)] * 2


def test_spy_week_without_a_calendar_goes_red_overnight_and_opens_breakers(
    load_trades: Callable[[str], montalaq.Trades],
) -> None:
    timeline, events, board = replay_spy(load_trades, None)
    assert len(timeline) == 6720
    nights = [
        colours for now, colours in timeline if new_york(now) >= time(20, 16) or new_york(now) <= time(4)
    ]
    assert len(nights) == 4 * (8 * 60 - 15)  # 20:16-04:00 ET, four nights
    assert all(c == {"1m": "RED", "5m": "RED"} for c in nights)
    assert "CLOSED" not in {c for _, colours in timeline for c in colours.values()}
    opened = [(e["timeframe"], e["at_ns"]) for e in events if e["kind"] == "breaker_open"]
    # 1m in the thin pre-market of the first day, 5m 16 minutes into the first night
    assert opened == [("1m", utc(2013, 10, 7, 10, 2)), ("5m", utc(2013, 10, 8, 0, 16))]
    assert [r["breaker_open"] for r in board.pairs()] == [True, True]
