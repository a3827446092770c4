"""The analysis runner: one analysis per (symbol, timeframe, closed bar), saved at each step
(PENDING, RUNNING, COMPLETE or FAILED), with the built-in trend rule, an optional ML model,
the composite score, stop-loss/take-profit and the hand-over to the signal hook::

    runner = AnalysisRunner.from_settings(settings, store, signal_hook=hook, ml=model)
    analysis = runner.run("SPY", "5m", bar, engine.signals_tf("SPY"))

Rules, failures and decisions: docs/semantics.md, "Analyses".
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.agents import DEFAULT_TS_WEIGHTS, TREND_FEATURES, trend_features, trend_p_up
from montalaq.correlation import correlation_scope
from montalaq.errors import ErrorCode, error_code_for
from montalaq.records import Analysis, AnalysisStatus, Decision
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.notify.signals import SignalHook
    from montalaq.settings import Settings
    from montalaq.store import Store

log = logging.getLogger("montalaq.analysis")

Features = Mapping[str, float | None]
MLCallable = Callable[[Features], float | None]
"""A model: ``(features) -> confidence in [0, 100]`` or None (no opinion)."""


class AnalysisError(RuntimeError):
    """An analyzer or model misbehaved (maps to ANALYSIS_ERR)."""


class BarLike(Protocol):
    """What the runner reads from a closed bar (``montalaq.Bar`` fits)."""

    @property
    def start_ns(self) -> int:
        """Bar open time, int ns since the epoch (UTC)."""
        ...

    @property
    def close(self) -> float:
        """Close price."""
        ...

    @property
    def atr(self) -> float:
        """ATR of the bar's timeframe, in price units (NaN while undefined)."""
        ...


@dataclass(frozen=True)
class RuleResult:
    """A rule analyzer's verdict: decision, confidence 0-100 (None: no opinion) and the
    features that drove it (name -> contribution)."""

    decision: Decision
    confidence: float | None
    top_features: dict[str, float] | None = None
    p_up: float | None = None


@runtime_checkable
class RuleAnalyzer(Protocol):
    """The rule analyzer plug-in point."""

    def __call__(self, features: Features) -> RuleResult:
        """Judge the features of one (symbol, timeframe) at a closed bar."""
        ...


class TrendRuleAnalyzer:
    """The built-in rule analyzer: decision and confidence from the trend score
    (docs/semantics.md, "Analyses"). ``weights``: ``TS_WEIGHTS``; ``entry``: ``TS_ENTRY``
    (0.5 < entry < 1 makes BUY and SELL exclusive; a lower entry gives BUY precedence)."""

    def __init__(self, weights: Sequence[float] = DEFAULT_TS_WEIGHTS, *, entry: float = 0.6) -> None:
        w = tuple(float(x) for x in weights)
        if len(w) != len(TREND_FEATURES) or not all(math.isfinite(x) for x in w):
            raise ValueError(f"weights: expected {len(TREND_FEATURES)} finite numbers, got {list(weights)!r}")
        if not 0 < entry < 1:
            raise ValueError(f"entry: expected a probability in (0, 1), got {entry!r}")
        self.weights = w
        self.entry = float(entry)

    def __call__(self, features: Features) -> RuleResult:
        """BUY/SELL/HOLD with ``100·max(p_up, 1-p_up)``; HOLD without confidence when a
        trend feature is undefined."""
        f = trend_features(features)
        if f is None:
            return RuleResult(Decision.HOLD, None)
        p_up = trend_p_up(f, self.weights)
        if p_up >= self.entry:
            decision = Decision.BUY
        elif p_up <= 1.0 - self.entry:
            decision = Decision.SELL
        else:
            decision = Decision.HOLD
        contributions = {
            name: w * x
            for name, w, x in zip(TREND_FEATURES, self.weights, f, strict=True)
            if math.isfinite(w * x)
        }
        return RuleResult(decision, 100.0 * max(p_up, 1.0 - p_up), contributions, p_up)


def _confidence(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AnalysisError(f"{what} returned {type(value).__name__}, expected a number in [0, 100] or None")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 100.0:
        raise AnalysisError(f"{what} returned {value!r}, expected a number in [0, 100] or None")
    return v


@dataclass
class RunnerStats:
    """Counters since the runner was created."""

    complete: int = 0
    failed: int = 0
    signal_errors: int = 0
    by_error_code: dict[str, int] = field(default_factory=dict)


class AnalysisRunner:
    """Runs analyses and stores them (docs/semantics.md, "Analyses").

    ``store``: where every state is saved. ``analyzer``: the rule analyzer (default
    :class:`TrendRuleAnalyzer` with the default weights). ``ml``: optional model.
    ``w_rule``/``w_ml``: composite weights (>= 0, summing to 1). ``sl_atr``/``tp_atr``:
    stop-loss and take-profit distances in ATRs. ``signal_hook``: gets each COMPLETE
    analysis. ``clock``: int ns since the epoch (the service passes its own).
    """

    def __init__(
        self,
        store: Store,
        *,
        analyzer: RuleAnalyzer | None = None,
        ml: MLCallable | None = None,
        w_rule: float = 0.5,
        w_ml: float = 0.5,
        sl_atr: float = 1.5,
        tp_atr: float = 3.0,
        signal_hook: SignalHook | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        for name, value in (("w_rule", w_rule), ("w_ml", w_ml), ("sl_atr", sl_atr), ("tp_atr", tp_atr)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if abs(w_rule + w_ml - 1.0) > 1e-9:
            raise ValueError(f"w_rule + w_ml: expected weights summing to 1, got {w_rule} + {w_ml}")
        if ml is not None and not callable(ml):
            raise TypeError(f"ml: expected a callable (features) -> float | None, got {type(ml).__name__}")
        self.store = store
        self.analyzer: RuleAnalyzer = analyzer if analyzer is not None else TrendRuleAnalyzer()
        self.ml = ml
        self.w_rule = float(w_rule)
        self.w_ml = float(w_ml)
        self.sl_atr = float(sl_atr)
        self.tp_atr = float(tp_atr)
        self.signal_hook = signal_hook
        self.clock = clock
        self.stats = RunnerStats()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        signal_hook: SignalHook | None = None,
        ml: MLCallable | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> AnalysisRunner:
        """A runner whose rule analyzer uses ``TS_WEIGHTS`` and ``TS_ENTRY``."""
        return cls(
            store,
            analyzer=TrendRuleAnalyzer(settings.ts_weights, entry=settings.ts_entry),
            ml=ml,
            signal_hook=signal_hook,
            clock=clock,
        )

    def run(self, symbol: str, timeframe: str, bar: BarLike, features: Features) -> Analysis:
        """Analyse the closed ``bar`` of (symbol, timeframe); returns the stored analysis
        (COMPLETE or FAILED). Raises only for bad arguments and store errors."""
        tf = timeframe_label(parse_timeframe(timeframe))
        with correlation_scope() as cid:
            now = datetime_utc(self.clock())
            analysis = Analysis(
                symbol,
                tf,
                datetime_utc(int(bar.start_ns)),
                status=AnalysisStatus.PENDING,
                close=finite_or_none(bar.close),
                correlation_id=cid,
            )
            self.store.save_analysis(analysis, now=now)
            analysis.status = AnalysisStatus.RUNNING
            self.store.save_analysis(analysis, now=now)
            extra = {"component": "analysis", "symbol": symbol, "timeframe": tf, "correlation_id": cid}
            try:
                self._evaluate(analysis, bar, features)
            except Exception as exc:
                code = error_code_for(exc)
                name = code.name if isinstance(code, ErrorCode) else str(code)
                analysis.status = AnalysisStatus.FAILED
                analysis.error_code = name
                analysis.error_message = f"{type(exc).__name__}: {exc}"[:500]
                analysis.final_decision = None
                analysis.rule_confidence_score = analysis.ml_confidence = analysis.composite_score = None
                analysis.stop_loss = analysis.take_profit = None
                analysis.top_features = None
                self.stats.failed += 1
                self.stats.by_error_code[name] = self.stats.by_error_code.get(name, 0) + 1
                log.warning(
                    "analysis %s %s @%s failed: %s (%s)",
                    symbol,
                    tf,
                    analysis.bar_ts.isoformat(),
                    analysis.error_message,
                    name,
                    extra={**extra, "error_code": name},
                )
            else:
                analysis.status = AnalysisStatus.COMPLETE
                self.stats.complete += 1
            now = datetime_utc(self.clock())
            self.store.save_analysis(analysis, now=now)
            if analysis.status is AnalysisStatus.COMPLETE and self.signal_hook is not None:
                try:
                    self.signal_hook.on_analysis(analysis, now=now)
                except Exception:
                    self.stats.signal_errors += 1
                    log.exception("signal hook failed for %s %s", symbol, tf, extra=extra)
        return analysis

    def _evaluate(self, analysis: Analysis, bar: BarLike, features: Features) -> None:
        """Fill decision, scores and levels (raises on analyzer/model errors)."""
        result = self.analyzer(features)
        if not isinstance(result, RuleResult):
            raise AnalysisError(f"analyzer returned {type(result).__name__}, expected a RuleResult")
        rule = _confidence(result.confidence, "analyzer")
        ml_value: float | None = None
        if self.ml is not None:
            atr = finite_or_none(bar.atr)
            inputs = MappingProxyType({**features, "close": finite_or_none(bar.close), "atr": atr})
            ml_value = _confidence(self.ml(inputs), "ml")
        composite: float | None = None
        if rule is not None:
            composite = rule if ml_value is None else self.w_rule * rule + self.w_ml * ml_value
            composite = min(100.0, max(0.0, composite))
        stop_loss = take_profit = None
        atr = finite_or_none(bar.atr)
        close = finite_or_none(bar.close)
        if atr is not None and close is not None and result.decision is not Decision.HOLD:
            sign = 1.0 if result.decision is Decision.BUY else -1.0
            stop_loss = close - sign * self.sl_atr * atr
            take_profit = close + sign * self.tp_atr * atr
        analysis.final_decision = result.decision
        analysis.rule_confidence_score = rule
        analysis.ml_confidence = ml_value
        analysis.composite_score = composite
        analysis.stop_loss = stop_loss
        analysis.take_profit = take_profit
        analysis.top_features = result.top_features or None


__all__ = [
    "AnalysisError",
    "AnalysisRunner",
    "BarLike",
    "Features",
    "MLCallable",
    "RuleAnalyzer",
    "RuleResult",
    "RunnerStats",
    "TrendRuleAnalyzer",
]
