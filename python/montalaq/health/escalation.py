"""The escalation board: the ladder and per-pair breakers over every (symbol, timeframe),
its tick sources (mapping, MarketEngine, array) and market calendars (docs/semantics.md,
"Health core": pairs, order inside a cycle, market calendars)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from montalaq import calendars as _calendars
from montalaq._native import health as _h
from montalaq._time import datetime_utc, seconds_to_ns, to_ns
from montalaq.errors import ErrorCode
from montalaq.health.arguments import int_setting
from montalaq.health.freshness import Freshness
from montalaq.health.ticks import EngineTicks
from montalaq.shapes import BoardRow, EscalationEvent
from montalaq.timeframes import parse_timeframe, timeframe_label

Level = _h.Level


def _event(raw: dict[str, Any]) -> EscalationEvent:
    """An escalation event as the notifier and the API see it (docs/semantics.md, "Health core")."""
    return {
        "kind": raw["kind"],
        "symbol": raw["symbol"],
        "timeframe": timeframe_label(raw["tf_ns"]),
        "old": raw["old"],
        "new": raw["new"],
        "reason": raw["reason"],
        "at": datetime_utc(raw["at_ns"]),
        "at_ns": raw["at_ns"],
        "last_error_code": raw["last_error_code"],
    }


def _row(raw: dict[str, Any]) -> BoardRow:
    """The native row (times in int ns) with the timeframe's label and the times as datetimes."""
    row = cast(BoardRow, dict(raw))
    row["timeframe"] = timeframe_label(raw["tf_ns"])
    row["last_tick"] = _time_or_none(raw["last_tick_ns"])
    row["last_eval"] = _time_or_none(raw["last_eval_ns"])
    row["breaker_changed_at"] = _time_or_none(raw["breaker_changed_ns"])
    return row


def _time_or_none(ns: int | None) -> datetime | None:
    return None if ns is None else datetime_utc(ns)


class EscalationBoard(_h.EscalationBoard):
    """Escalation ladder and per-pair breaker for every (symbol, timeframe) (docs/semantics.md,
    "Health core": order inside a cycle).

    ``evaluate(now, last_tick_ns)`` runs one cycle over every pair and returns the events
    (level changes, breaker open/close) with their reason and last error code. Pairs are
    registered by ``add_pairs``, by ``record_failure``, or by appearing in ``last_tick_ns``;
    a registered pair that has never traded is RED. One broken pair never changes another.
    A pair may follow a market calendar (``add_pair(..., calendar="XNYS")``): outside its
    sessions it is CLOSED and nothing escalates (docs/semantics.md, "Market calendars").
    ``to_json``/``from_json`` and the binary ``to_bytes``/``from_bytes`` (the same state,
    for workers handing it over) save and restore it (docs/semantics.md, "Binary snapshots").

    Thread safety: every method may be called from any thread (an internal lock).
    """

    def __init__(
        self,
        freshness: Freshness | None = None,
        auto_close_cycles: int = 0,
        *,
        critical_red_streak: int = 3,
        error_fails: int = 3,
        warn_amber_streak: int = 2,
        warn_fails: int = 2,
        breaker_red_streak: int = 2,
        breaker_error_streak: int = 3,
        fail_window_s: float = 300.0,
        max_failures_kept: int = 1_000,
    ) -> None:
        super().__init__(
            freshness if freshness is not None else Freshness(),
            int_setting("auto_close_cycles", auto_close_cycles, 0),
            int_setting("critical_red_streak", critical_red_streak, 1),
            int_setting("error_fails", error_fails, 1),
            int_setting("warn_amber_streak", warn_amber_streak, 1),
            int_setting("warn_fails", warn_fails, 1),
            int_setting("breaker_red_streak", breaker_red_streak, 1),
            int_setting("breaker_error_streak", breaker_error_streak, 1),
            seconds_to_ns(fail_window_s, "fail_window_s"),
            int_setting("max_failures_kept", max_failures_kept, 1, 1_000_000_000),
        )
        # Calendar name -> board index, for the calendars whose sessions this object put on
        # the board (a loaded document's sessions are replaced by this process's on first use).
        self._calendar_ids: dict[str, int] = {}
        # The last MarketEngine given as ticks, with its pairs' board indices.
        self._engine_ticks: EngineTicks | None = None

    @classmethod
    def from_json(cls, text: str) -> EscalationBoard:
        """A board from ``to_json()`` output; ValueError on a malformed or foreign document."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a JSON string, got {type(text).__name__}")
        board = cls()
        board.load_json(text)
        return board

    def load_json(self, text: str) -> None:
        """Replace this board's state with a document from ``to_json()`` (version 1 or 2); on
        any error (ValueError) the board is unchanged."""
        super().load_json(text)
        self._loaded()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> EscalationBoard:
        """A board from a ``to_bytes()`` snapshot (docs/semantics.md, "Binary snapshots");
        ValueError naming what is wrong on a truncated, corrupt or foreign snapshot."""
        board = cls()
        board.load_bytes(data)
        return board

    def load_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Replace this board's state with a ``to_bytes()`` snapshot; on any error (ValueError)
        the board is unchanged. The snapshot is checked and read with the GIL released."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data: expected bytes from to_bytes(), got {type(data).__name__}")
        super().load_bytes(data if isinstance(data, bytes) else bytes(data))
        self._loaded()

    def set_auto_close_cycles(self, cycles: int) -> None:
        """Take a new ``auto_close_cycles`` (0: operator only) and keep every pair's state --
        for a board saved under another ``BREAKER_AUTO_CLOSE_CYCLES``."""
        self._set_auto_close_cycles(int_setting("auto_close_cycles", cycles, 0))

    def _loaded(self) -> None:
        """A loaded board has other indices and other calendar sessions: forget both maps."""
        self._calendar_ids = {}
        self._engine_ticks = None

    def add_pair(self, symbol: str, timeframe: str, calendar: str | None = None) -> int:
        """Register a pair (idempotent); returns its index in ``pairs()`` order.

        ``calendar``: ``"24/7"`` or an exchange_calendars name such as ``"XNYS"``
        (:func:`montalaq.calendars.normalize`); the pair moves to it if it was on another.
        None keeps an existing pair's calendar; a new pair is then on ``"24/7"``.
        """
        if not isinstance(symbol, str) or not symbol:
            raise ValueError("symbol: expected a non-empty string")
        tf_ns = parse_timeframe(timeframe)
        if calendar is None:
            return self._add_pair(symbol, tf_ns)
        return self._add_on(symbol, tf_ns, self._calendar_id(_calendars.normalize(calendar)))

    def add_pairs(
        self, symbols: Iterable[str], timeframes: Iterable[str], calendar: str | None = None
    ) -> list[int]:
        """Register every (symbol, timeframe) combination, on ``calendar`` as in ``add_pair``."""
        tfs = list(timeframes)
        name = None if calendar is None else _calendars.normalize(calendar)
        return [self.add_pair(s, tf, name) for s in symbols for tf in tfs]

    def place_pairs(
        self,
        symbols: Sequence[str],
        symbol_of: npt.ArrayLike,
        tf_ns: npt.ArrayLike,
        calendars: Sequence[str] | None = None,
    ) -> npt.NDArray[np.uint32]:
        """A watchlist in one native call (``add_pair`` pair by pair costs ~5 us a pair):
        pair ``i`` is ``(symbols[symbol_of[i]], tf_ns[i])`` on ``calendars[symbol_of[i]]``
        (one calendar name per symbol, None: every pair on "24/7"), registered when new and
        moved to that calendar when it exists. Returns the pairs' indices; every argument is
        checked before anything changes (ValueError)."""
        names = list(calendars) if calendars is not None else None
        if names is not None and len(names) != len(symbols):
            raise ValueError(f"calendars: expected one name per symbol ({len(symbols)}), got {len(names)}")
        sym = np.ascontiguousarray(symbol_of, dtype=np.uint32)
        if names is None:
            cal = np.zeros(len(sym), dtype=np.uint16)
        else:
            ids = {name: self._calendar_id(_calendars.normalize(name)) for name in dict.fromkeys(names)}
            per_symbol = np.array([ids[name] for name in names], dtype=np.uint16)
            cal = per_symbol[sym] if len(per_symbol) else np.zeros(len(sym), dtype=np.uint16)
        tfs = np.ascontiguousarray(tf_ns, dtype=np.int64)
        return np.asarray(self._place_pairs(list(symbols), sym, tfs, cal), dtype=np.uint32)

    def _add_on(self, symbol: str, tf_ns: int, calendar: int) -> int:
        idx = self._add_pair(symbol, tf_ns, calendar)
        self._set_pair_calendar(idx, calendar)  # an existing pair moves
        return idx

    def _calendar_id(self, name: str) -> int:
        """The board index of a normalised calendar name, putting its sessions on the board
        the first time this object uses it."""
        if name == _calendars.ALWAYS_OPEN:
            return 0
        found = self._calendar_ids.get(name)
        if found is None:
            opens, closes = _calendars.sessions(name)
            found = self._calendar_ids[name] = self._set_calendar(name, opens, closes)
        return found

    def _index(self, symbol: str, timeframe: str) -> int:
        idx = self._find_pair(symbol, parse_timeframe(timeframe))
        if idx is None:
            raise ValueError(f"unknown pair ({symbol!r}, {timeframe!r}); register it with add_pair")
        return idx

    def record_failure(
        self,
        symbol: str,
        timeframe: str,
        at_ns: Any = None,
        error_code: ErrorCode | str = ErrorCode.UNKNOWN,
    ) -> None:
        """Record an analysis failure for a pair (registering it if new) at ``at_ns``
        (int ns, aware datetime, datetime64; default now) with its error code."""
        if isinstance(at_ns, ErrorCode | str):
            raise TypeError(
                "at_ns: expected a time (int ns, aware datetime, datetime64) or None; the error code "
                "is the fourth argument: record_failure(symbol, timeframe, at_ns, error_code)"
            )
        code = error_code.name if isinstance(error_code, ErrorCode) else error_code
        if not isinstance(code, str) or not code:
            raise ValueError("error_code: expected an ErrorCode or a non-empty string")
        self._record_failure(self.add_pair(symbol, timeframe), at_ns, code)

    def evaluate(self, now: Any = None, last_tick_ns: Any = None) -> list[EscalationEvent]:
        """Run one cycle; returns this cycle's events.

        ``last_tick_ns``: None (use the ticks given before), a :class:`montalaq.MarketEngine`
        (its symbols x timeframes), an int64 array with one time per pair in ``pairs()``
        order (0 means never), or a mapping ``{(symbol, timeframe): ts_ns}``. An engine and
        an array take the native path: the board keeps the engine's pair indices between
        cycles (built once, extended as the engine gains symbols), so either meets the
        10 ms budget at 100,000 pairs. The mapping is the convenient, slow form (a Python
        call per pair per cycle): use it for a few pairs.
        """
        ticks = None if last_tick_ns is None else self._apply_ticks(last_tick_ns)
        return [_event(e) for e in self._evaluate(now, ticks)]

    def _apply_ticks(self, source: Any) -> Any:
        """Stores mapping/engine ticks; returns an array for the native one-pass path."""
        from montalaq.engine import MarketEngine

        if isinstance(source, MarketEngine):
            ticks = self._engine_ticks
            if ticks is None or not ticks.serves(source):
                ticks = self._engine_ticks = EngineTicks(source)
            ticks.apply(self, source)
            return None
        if isinstance(source, Mapping):
            idx = np.empty(len(source), dtype=np.uint32)
            ts = np.empty(len(source), dtype=np.int64)
            for i, ((symbol, tf), value) in enumerate(source.items()):
                idx[i] = self.add_pair(symbol, tf)
                ts[i] = 0 if value is None else to_ns(value, f"last_tick_ns[{symbol!r}, {tf!r}]")
            self._set_last_ticks(idx, ts)
            return None
        arr = np.asarray(source)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(
                "last_tick_ns: expected a mapping {(symbol, timeframe): ts_ns}, a MarketEngine, or an "
                f"int64 array with one time per pair; got {type(source).__name__}"
            )
        if arr.shape[0] != len(self):
            raise ValueError(f"last_tick_ns: expected one time per pair ({len(self)}), got {arr.shape[0]}")
        return np.ascontiguousarray(arr, dtype=np.int64)

    def set_last_ticks(self, last_tick_ns: Any) -> None:
        """Store last trade times without evaluating (same forms as ``evaluate``)."""
        ticks = self._apply_ticks(last_tick_ns)
        if ticks is not None:
            self._set_last_ticks(np.arange(len(self), dtype=np.uint32), ticks)

    def level(self, symbol: str, timeframe: str) -> Level:
        """Current escalation level of a pair."""
        return self._level(self._index(symbol, timeframe))

    def breaker_open(self, symbol: str, timeframe: str) -> bool:
        """Whether the pair's breaker is open (the scheduler skips only this pair)."""
        return self._breaker_open(self._index(symbol, timeframe))

    def close_breaker(
        self, symbol: str, timeframe: str, by: str = "operator", now: Any = None
    ) -> EscalationEvent | None:
        """Operator close; returns the breaker_close event, or None if it was not open."""
        ev = self._close_breaker(self._index(symbol, timeframe), now, by)
        return None if ev is None else _event(ev)

    def pair(self, symbol: str, timeframe: str, now: Any = None) -> BoardRow:
        """One pair as a status row."""
        return _row(self._row(self._index(symbol, timeframe), now))

    def pairs(self, now: Any = None) -> list[BoardRow]:
        """Every pair as a row for the status API (freshness, level, breaker, streaks...)."""
        return [_row(r) for r in self._rows(now)]


__all__ = ["EscalationBoard", "Level"]
