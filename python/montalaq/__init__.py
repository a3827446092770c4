"""montalaq: a native reliability-and-signal core for trading backends.

The public API lives here; ``montalaq._core`` is private.
"""

from __future__ import annotations

from montalaq._version import __version__
from montalaq.bars import Bars, Features, build_bars, compute_features
from montalaq.correlation import CorrelationFilter, correlation_scope, new_correlation_id
from montalaq.dedupe import DedupeCache, DedupeResult, RedisDedupe, dedup_key
from montalaq.engine import Bar, MarketEngine, QuoteStatus, TradeStatus
from montalaq.errors import ErrorCode, ErrorKind, ErrorTaxonomy, error_code_for
from montalaq.guards import GuardBackend, GuardSettings
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
from montalaq.safety import OrderKind, SafetyReason, validate_trading_decision
from montalaq.sample import sample_path
from montalaq.throttle import ErrorThrottle, ThrottleDecision
from montalaq.timeframes import parse_timeframe, timeframe_label

__all__ = [
    "Bar",
    "Bars",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Colour",
    "CorrelationFilter",
    "DedupeCache",
    "DedupeResult",
    "ErrorCode",
    "ErrorKind",
    "ErrorTaxonomy",
    "ErrorThrottle",
    "EscalationBoard",
    "Features",
    "Freshness",
    "GuardBackend",
    "GuardSettings",
    "InvalidTransitionError",
    "Level",
    "MarketEngine",
    "OpState",
    "OperationalState",
    "OrderKind",
    "QuoteStatus",
    "RateLimiter",
    "RedisDedupe",
    "RedisRateLimiter",
    "RetryPolicy",
    "RetryStats",
    "SafetyReason",
    "ThrottleDecision",
    "TradeStatus",
    "Trades",
    "__version__",
    "build_bars",
    "compute_features",
    "configure_logging",
    "correlation_scope",
    "dedup_key",
    "drain_native_logs",
    "error_code_for",
    "new_correlation_id",
    "parse_timeframe",
    "read_trades",
    "sample_path",
    "timeframe_label",
    "validate_trading_decision",
]
