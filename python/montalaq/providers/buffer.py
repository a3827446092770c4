"""What a streaming client holds between its reader and the consumer: the parsed rows of
each symbol, bounded, and the gaps it knows it has (docs/feeds.md, "When the connection
fails" and "What operators see")."""

from __future__ import annotations

from dataclasses import dataclass

from montalaq.shapes import GapDoc


@dataclass(frozen=True)
class Gap:
    """Trades a client knows it missed: ``symbol``, the interval (int ns, exchange time
    where known), how many trades where the ids tell (else -1), and whether a backfill
    closed it (``filled``: "trades", "bars" or "" when nothing could be fetched)."""

    symbol: str
    from_ns: int
    to_ns: int
    missing: int
    filled: str
    reason: str

    def to_dict(self) -> GapDoc:
        return {
            "symbol": self.symbol,
            "from_ns": self.from_ns,
            "to_ns": self.to_ns,
            "missing": self.missing,
            "filled": self.filled,
            "reason": self.reason,
        }


class PendingTrades:
    """Parsed rows waiting for the consumer, per symbol, bounded."""

    __slots__ = ("ids", "px", "sd", "sz", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.px: list[float] = []
        self.sz: list[float] = []
        self.sd: list[int] = []
        self.ids: list[int] = []

    def __len__(self) -> int:
        return len(self.ts)

    def drop_oldest(self, n: int) -> tuple[int, int]:
        """Drop the first ``n`` rows; returns the time span dropped."""
        first, last = self.ts[0], self.ts[n - 1]
        for col in (self.ts, self.px, self.sz, self.sd, self.ids):
            if col:
                del col[:n]
        return first, last


__all__ = ["Gap", "PendingTrades"]
