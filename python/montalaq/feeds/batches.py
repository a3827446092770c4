"""What a feed delivers: a chunk of one symbol's trades, its best bid/ask updates, and
``Batch``, either of them (docs/feeds.md, "Your own feed")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class TradeBatch:
    """A chunk of one symbol's trades: ``ts_ns`` int64 ns since the epoch (UTC), ``price``
    and ``size`` float64, optional ``side`` (+1/-1/0, int8) and ``trade_id`` (uint64)."""

    symbol: str
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8] | None = None
    trade_id: npt.NDArray[np.uint64] | None = None

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclass(frozen=True, eq=False)
class QuoteBatch:
    """Best bid/ask updates of one symbol: ``ts_ns`` int64 ns since the epoch (UTC), ``bid``
    and ``ask`` float64. A feed may yield these beside its :class:`TradeBatch` es; the
    service hands each row to ``MarketEngine.on_quote``."""

    symbol: str
    ts_ns: npt.NDArray[np.int64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


Batch = TradeBatch | QuoteBatch
"""What a feed delivers: trades, and quotes where the provider has them."""


__all__ = ["Batch", "QuoteBatch", "TradeBatch"]
