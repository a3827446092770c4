"""A MarketEngine as the escalation board's tick source: the board indices of the engine's
(symbol, timeframe) pairs, built once and extended when the engine gains symbols, so a
cycle gathers the engine's last trades with numpy instead of a call per pair
(docs/semantics.md, "Health core": pairs)."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from montalaq.engine import MarketEngine
    from montalaq.health.escalation import EscalationBoard


class EngineTicks:
    """Board indices of one engine's pairs, symbol-major (``symbols() x timeframes``).

    Engines only ever append symbols and boards only append pairs (a loaded document
    replaces the board: the board then drops this map), so the map only grows.
    """

    def __init__(self, engine: MarketEngine) -> None:
        self._engine = weakref.ref(engine)
        self._tf_ns = [int(tf) for tf in engine.timeframes_ns]
        self._idx: npt.NDArray[np.uint32] = np.empty(0, dtype=np.uint32)
        self._symbols = 0
        self._lock = threading.Lock()

    def serves(self, engine: MarketEngine) -> bool:
        """Whether this map was built for ``engine`` (the same object, still alive)."""
        return self._engine() is engine

    def apply(self, board: EscalationBoard, engine: MarketEngine) -> None:
        """Store the engine's last trade times as its pairs' last ticks, registering the
        pairs of symbols the engine has gained since the last call."""
        last = engine._last_trade_ns()
        with self._lock:
            if last.shape[0] > self._symbols:
                self._extend(board, engine, last.shape[0])
            idx = self._idx[: last.shape[0] * len(self._tf_ns)]
        board._set_last_ticks(idx, last if len(self._tf_ns) == 1 else np.repeat(last, len(self._tf_ns)))

    def _extend(self, board: EscalationBoard, engine: MarketEngine, n_symbols: int) -> None:
        new = engine._symbols_since(self._symbols)[: n_symbols - self._symbols]
        # _add_pair keeps an existing pair's calendar, as add_pair(calendar=None) does.
        added = [board._add_pair(sym, tf) for sym in new for tf in self._tf_ns]
        self._idx = np.concatenate([self._idx, np.asarray(added, dtype=np.uint32)])
        self._symbols += len(new)


__all__ = ["EngineTicks"]
