"""Market calendars for the escalation board: exchange sessions from ``exchange_calendars``
as the int64 ns ``[open, close)`` intervals the native board takes. What a calendar does to
a pair (CLOSED outside the sessions, age from the open inside them): docs/semantics.md,
"Market calendars".
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from montalaq._time import to_ns

ALWAYS_OPEN = "24/7"
"""The built-in calendar of every pair that names none: always open."""

_ALWAYS_OPEN_NAMES = frozenset({"", "24/7", "24X7"})
# NSE and BSE share session hours and holidays; exchange_calendars only ships BSE (XBOM).
_ALIASES = {"XNSE": "XBOM"}
_EXAMPLES = ("24/7", "XNYS", "XNAS", "XLON", "XTKS", "XHKG", "XNSE", "CMES")
_INT64 = np.iinfo(np.int64)
_alias_lock = threading.Lock()

Sessions = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


@functools.cache
def _library() -> Any:
    """exchange_calendars with montalaq's aliases, imported on first use (it is slow to
    import, and ``import montalaq`` stays light)."""
    import exchange_calendars

    with _alias_lock:
        for alias, real in _ALIASES.items():
            if alias not in exchange_calendars.get_calendar_names(include_aliases=True):
                exchange_calendars.register_calendar_alias(alias, real)
    return exchange_calendars


@functools.cache
def _names() -> dict[str, str]:
    """Upper-cased name -> the library's spelling, for every calendar name and alias."""
    return {n.upper(): n for n in _library().get_calendar_names(include_aliases=True)}


def normalize(name: str | None) -> str:
    """The calendar's name as the board keeps it: ``"24/7"`` for None, ``""``, ``"24/7"``
    and ``"24x7"``; otherwise the exchange_calendars name or alias, matched without regard
    to case (``"xnys"`` -> ``"XNYS"``). ValueError for a name the library does not know."""
    if name is None:
        return ALWAYS_OPEN
    if not isinstance(name, str):
        raise TypeError(f"calendar: expected a calendar name or None, got {type(name).__name__}")
    key = name.strip().upper()
    if key in _ALWAYS_OPEN_NAMES:
        return ALWAYS_OPEN
    found = _names().get(key)
    if found is None:
        raise ValueError(
            f"calendar: unknown market calendar {name!r}; expected '24/7' or an exchange_calendars "
            f"name or alias such as {', '.join(_EXAMPLES)} "
            "(all of them: exchange_calendars.get_calendar_names(include_aliases=True))"
        )
    return str(found)


def sessions(name: str | None) -> Sessions:
    """``(opens_ns, closes_ns)``: the calendar's sessions ``[open, close)`` as read-only int64
    ns arrays, ascending, over the library's default range (about 20 years back to a year
    ahead of when the process first asked). A lunch break splits its day into two sessions;
    sessions that touch are one (the market never closed). ``"24/7"`` is one session over
    all representable time. Computed once per calendar and process."""
    return _sessions(normalize(name))


@functools.cache  # lru_cache without a bound: a few calendars per process
def _sessions(name: str) -> Sessions:
    if name == ALWAYS_OPEN:
        return _frozen(np.array([_INT64.min], dtype=np.int64), np.array([_INT64.max], dtype=np.int64))
    try:
        schedule = _library().get_calendar(name).schedule
    except Exception as exc:  # a few calendars fail to build with some pandas versions
        raise ValueError(
            f"calendar {name!r}: exchange_calendars could not build its sessions: {exc}"
        ) from exc
    opens, closes = _ns(schedule["open"]), _ns(schedule["close"])
    start, end = _ns(schedule["break_start"]), _ns(schedule["break_end"])
    # NaT (no break that day) reads as INT64_MIN.
    lunch = (start != _INT64.min) & (end != _INT64.min) & (opens < start) & (start < end) & (end < closes)
    starts = np.concatenate([opens, end[lunch]])
    ends = np.concatenate([np.where(lunch, start, closes), closes[lunch]])
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    # A session that opens where the previous one closed continues it (24/5 over midnight):
    # a "reopening" there would restart every pair's age for nothing.
    first = np.ones(len(starts), dtype=bool)
    first[1:] = starts[1:] != ends[:-1]
    last = np.ones(len(starts), dtype=bool)
    last[:-1] = first[1:]
    return _frozen(starts[first], ends[last])


def _ns(column: Any) -> npt.NDArray[np.int64]:
    """A tz-aware datetime column as int64 ns since the epoch (UTC)."""
    import pandas as pd

    return np.asarray(pd.DatetimeIndex(column).as_unit("ns").asi8, dtype=np.int64)


def _frozen(opens: npt.NDArray[np.int64], closes: npt.NDArray[np.int64]) -> Sessions:
    opens.setflags(write=False)  # shared by every caller through the cache
    closes.setflags(write=False)
    return opens, closes


def is_open(name: str | None, ts_ns: Any) -> bool:
    """Whether the calendar is in a session at ``ts_ns`` (int ns, aware datetime,
    datetime64): ``open <= ts < close``."""
    calendar = normalize(name)
    t = to_ns(ts_ns, "ts_ns")
    if calendar == ALWAYS_OPEN:
        return True
    opens, closes = _sessions(calendar)
    k = int(np.searchsorted(opens, t, side="right")) - 1
    return k >= 0 and t < int(closes[k])


def session_at(name: str | None, ts_ns: int) -> tuple[bool, int]:
    """``(open, session_open_ns)`` at ``ts_ns`` (int ns): whether the calendar is in a
    session and when that session opened (0 for 24/7, and when closed) -- what the board's
    colour needs, for callers that colour pairs outside the board (vectorised paths)."""
    calendar = normalize(name)
    if calendar == ALWAYS_OPEN:
        return True, 0
    opens, closes = _sessions(calendar)
    k = int(np.searchsorted(opens, int(ts_ns), side="right")) - 1
    if k >= 0 and int(ts_ns) < int(closes[k]):
        return True, int(opens[k])
    return False, 0


__all__ = ["ALWAYS_OPEN", "Sessions", "is_open", "normalize", "session_at", "sessions"]
