"""montalaq: a native reliability-and-signal core for trading backends.

The public API lives here; ``montalaq._core`` is private.
"""

from __future__ import annotations

from montalaq.bars import Bars, Features, build_bars, compute_features
from montalaq.engine import Bar, MarketEngine, QuoteStatus, TradeStatus
from montalaq.errors import ErrorCode
from montalaq.health import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    Colour,
    EscalationBoard,
    Freshness,
    InvalidTransitionError,
    Level,
    OperationalState,
    OpState,
)
from montalaq.io import Trades, read_trades
from montalaq.native_log import configure_logging, drain_native_logs
from montalaq.sample import sample_path
from montalaq.timeframes import parse_timeframe, timeframe_label

__version__ = "0.1.0"

__all__ = [
    "Bar",
    "Bars",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Colour",
    "ErrorCode",
    "EscalationBoard",
    "Features",
    "Freshness",
    "InvalidTransitionError",
    "Level",
    "MarketEngine",
    "OpState",
    "OperationalState",
    "QuoteStatus",
    "TradeStatus",
    "Trades",
    "__version__",
    "build_bars",
    "compute_features",
    "configure_logging",
    "drain_native_logs",
    "parse_timeframe",
    "read_trades",
    "sample_path",
    "timeframe_label",
]
