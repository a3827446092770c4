"""Order safety invariants: the last check before a decision becomes an order.

``validate_trading_decision(symbol, side, quantity, price, tick_size=..., allowed_symbols=...)``
returns ``SafetyReason.OK`` or the first failing reason, and logs each blocked decision once
at WARNING on ``montalaq.safety``. The checks, their order and the logging: docs/semantics.md,
"Guards" (Order safety).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from montalaq import correlation
from montalaq._native import guard as _g

SafetyReason = _g.SafetyReason
OrderKind = _g.OrderKind

logger = logging.getLogger("montalaq.safety")


def _decision_number(value: object) -> float:
    """A decision's quantity or price as a float; anything that is not a real number is NaN
    (so the check blocks it with a reason instead of raising)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        return math.nan
    try:
        return float(value)
    except (OverflowError, ValueError):
        return math.nan


def _context_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return x


def _symbols(allowed: object) -> frozenset[str]:
    if isinstance(allowed, frozenset) and all(isinstance(s, str) for s in allowed):
        return allowed
    if isinstance(allowed, str | bytes) or not isinstance(allowed, Iterable):
        raise TypeError(
            "allowed_symbols: expected a collection of symbol strings such as {'EURUSD'}, "
            f"got {type(allowed).__name__}"
        )
    out = frozenset(allowed)
    bad = [s for s in out if not isinstance(s, str)]
    if bad:
        raise TypeError(f"allowed_symbols: every symbol must be a str, got {bad[0]!r}")
    return out


def _kind(kind: object) -> OrderKind:
    if isinstance(kind, OrderKind):
        return kind
    if isinstance(kind, str):
        try:
            return OrderKind.__members__[kind.upper()]
        except KeyError:
            pass
    raise ValueError(f"kind: expected an OrderKind or one of {list(OrderKind.__members__)}, got {kind!r}")


def validate_trading_decision(
    symbol: Any,
    side: Any,
    quantity: Any,
    price: Any,
    *,
    tick_size: float,
    allowed_symbols: Iterable[str],
    entry_filled: bool = False,
    position_qty: float = 0.0,
    kind: OrderKind | str = OrderKind.ENTRY,
    correlation_id: str | None = None,
) -> SafetyReason:
    """Check one trading decision against the docs/semantics.md, Guards invariants; OK or the first reason.

    ``quantity`` and ``price`` are in the instrument's units; ``position_qty`` is the current
    signed position (long > 0); ``kind`` is ENTRY, TAKE_PROFIT, STOP_LOSS or EXIT.
    ``correlation_id`` defaults to the current one (:mod:`montalaq.correlation`) for the
    BLOCKED log line.
    """
    tick = _context_number(tick_size, "tick_size")
    if tick <= 0:
        raise ValueError(f"tick_size: must be > 0, got {tick_size!r}")
    allowed = _symbols(allowed_symbols)
    if not isinstance(entry_filled, bool):
        raise TypeError(f"entry_filled: expected a bool, got {type(entry_filled).__name__}")
    position = _context_number(position_qty, "position_qty")
    order_kind = _kind(kind)
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise TypeError(f"correlation_id: expected a str or None, got {type(correlation_id).__name__}")

    reason = _g.validate_trading_decision(
        symbol if isinstance(symbol, str) else "",
        side if isinstance(side, str) else "",
        _decision_number(quantity),
        _decision_number(price),
        tick,
        allowed,
        entry_filled,
        position,
        order_kind,
    )
    if reason != SafetyReason.OK:
        cid = correlation_id or correlation.get() or correlation.NO_ID
        logger.warning(
            "trading decision BLOCKED: %s (%s %s %r @ %r, %s)",
            reason.name,
            symbol,
            side,
            quantity,
            price,
            order_kind.name,
            extra={
                "correlation_id": cid,
                "symbol": symbol if isinstance(symbol, str) else repr(symbol),
                "decision": "BLOCKED",
                "reason_code": reason.name,
            },
        )
    return reason


__all__ = ["OrderKind", "SafetyReason", "validate_trading_decision"]
