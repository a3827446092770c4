"""montalaq: a native reliability-and-signal core for trading backends.

The public API lives here; ``montalaq._core`` is private.
"""

from __future__ import annotations

from montalaq.bars import Bars, Features, build_bars, compute_features
from montalaq.engine import Bar, MarketEngine, QuoteStatus, TradeStatus
from montalaq.errors import ErrorCode, ErrorKind, ErrorTaxonomy, error_code_for
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
from montalaq.ratelimit import RateLimiter, RedisRateLimiter
from montalaq.retry import RetryPolicy, RetryStats
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
    "ErrorKind",
    "ErrorTaxonomy",
    "EscalationBoard",
    "Features",
    "Freshness",
    "InvalidTransitionError",
    "Level",
    "MarketEngine",
    "OpState",
    "OperationalState",
    "QuoteStatus",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryPolicy",
    "RetryStats",
    "TradeStatus",
    "Trades",
    "__version__",
    "build_bars",
    "compute_features",
    "configure_logging",
    "drain_native_logs",
    "error_code_for",
    "parse_timeframe",
    "read_trades",
    "sample_path",
    "timeframe_label",
]
