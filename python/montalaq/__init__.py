"""montalaq: a native reliability-and-signal core for trading backends.

The public API lives here; ``montalaq._core`` is private. Subpackages that need optional
libraries or are large (``montalaq.api``, ``montalaq.celery``, ``montalaq.store``, ...) are
imported on first attribute access, so ``import montalaq`` stays fast (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # the lazy submodules below, typed for mypy and IDEs
    from montalaq import agents as agents
    from montalaq import analysis as analysis
    from montalaq import api as api
    from montalaq import bench as bench
    from montalaq import calendars as calendars
    from montalaq import celery as celery
    from montalaq import cli as cli
    from montalaq import cycle as cycle
    from montalaq import django as django
    from montalaq import feeds as feeds
    from montalaq import lifecycle as lifecycle
    from montalaq import llm as llm
    from montalaq import market_agents as market_agents
    from montalaq import monitoring as monitoring
    from montalaq import notify as notify
    from montalaq import ops as ops
    from montalaq import providers as providers
    from montalaq import records as records
    from montalaq import service as service
    from montalaq import settings as settings
    from montalaq import store as store
    from montalaq import watchlist as watchlist

# Imported when first used as ``montalaq.<name>``: optional dependencies stay optional
# (``montalaq.api`` needs the api extra) and ``import montalaq`` does not pay for them.
_LAZY_SUBMODULES = frozenset(
    {
        "agents",
        "analysis",
        "api",
        "bench",
        "calendars",
        "celery",
        "cli",
        "cycle",
        "django",
        "feeds",
        "lifecycle",
        "llm",
        "market_agents",
        "monitoring",
        "notify",
        "ops",
        "providers",
        "records",
        "service",
        "settings",
        "store",
        "watchlist",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LAZY_SUBMODULES:
        raise AttributeError(f"module 'montalaq' has no attribute {name!r}")
    from montalaq._optional import needs

    with needs(f"montalaq.{name}"):
        # import_module also binds the attribute on this package: __getattr__ runs once.
        return importlib.import_module(f"montalaq.{name}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)


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
