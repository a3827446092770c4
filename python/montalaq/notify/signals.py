"""The analysis signal hook: a COMPLETE analysis whose ``composite_score`` is at least the
threshold notifies once per (symbol, timeframe, bar_ts) within the dedupe window, guarded
by the dedupe cache and ``ingestion_status.last_signal_bar_ts`` in the database; safe to
call again after any failure, in any process. Decisions: docs/semantics.md, "Signal hook".
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from montalaq._time import to_ns
from montalaq.dedupe import DedupeCache, DedupeStore
from montalaq.notify.message import Severity
from montalaq.notify.notifier import Notifier
from montalaq.records import Analysis, AnalysisStatus, as_utc


class SignalDecision(enum.Enum):
    """What the hook did with one analysis."""

    NOTIFIED = "NOTIFIED"
    NOT_COMPLETE = "NOT_COMPLETE"
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    DEDUPED = "DEDUPED"  # the cache had the bar
    DEDUPED_DB = "DEDUPED_DB"  # the database had it (another worker, or after a restart)


def signal_key(symbol: str, timeframe: str, bar_ts: datetime) -> str:
    """Lowercase hex SHA-256 of ``signal|symbol|timeframe|bar_ts_ns``."""
    return hashlib.sha256(f"signal|{symbol}|{timeframe}|{to_ns(bar_ts, 'bar_ts')}".encode()).hexdigest()


class SignalHook:
    """Call :meth:`on_analysis` with each finished analysis.

    ``threshold`` is ``ANALYSIS_NOTIFY_THRESHOLD`` (0-100), ``dedupe_window_s`` is
    ``ANALYSIS_NOTIFY_DEDUPE_SEC``; ``dedupe`` defaults to an in-process cache with that TTL.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        threshold: float = 70.0,
        dedupe_window_s: float = 900.0,
        dedupe: DedupeStore | None = None,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 100:
            raise ValueError(f"threshold: expected a number in [0, 100], got {threshold!r}")
        if (
            isinstance(dedupe_window_s, bool)
            or not isinstance(dedupe_window_s, int | float)
            or not dedupe_window_s > 0
        ):
            raise ValueError(f"dedupe_window_s: expected seconds > 0, got {dedupe_window_s!r}")
        self.notifier = notifier
        self.store = notifier.store
        self.threshold = float(threshold)
        self.dedupe_window_s = float(dedupe_window_s)
        self.dedupe: DedupeStore = dedupe if dedupe is not None else DedupeCache(ttl_s=dedupe_window_s)

    def on_analysis(self, analysis: Analysis, now: Any = None) -> SignalDecision:
        """Notify the analysis' signal if it qualifies and was not notified already."""
        if not isinstance(analysis, Analysis):
            raise TypeError(f"analysis: expected an Analysis, got {type(analysis).__name__}")
        if analysis.status is not AnalysisStatus.COMPLETE:
            return SignalDecision.NOT_COMPLETE
        if analysis.composite_score is None or analysis.composite_score < self.threshold:
            return SignalDecision.BELOW_THRESHOLD
        when = as_utc(now, "now") if now is not None else as_utc(self.notifier.clock(), "now")
        now_ns = to_ns(when, "now")
        key = signal_key(analysis.symbol, analysis.timeframe, analysis.bar_ts)
        info = {
            "symbol": analysis.symbol,
            "timeframe": analysis.timeframe,
            "bar_ts": analysis.bar_ts.isoformat(),
        }
        cid = analysis.correlation_id
        if self.dedupe.contains(key, now_ns):
            self.store.record_dedup_event(
                key, "DEDUPED", symbol=analysis.symbol, correlation_id=cid, payload=info, now=when
            )
            return SignalDecision.DEDUPED
        granted = self.store.claim_signal_bar(
            analysis.symbol, analysis.timeframe, analysis.bar_ts, now=when, window_s=self.dedupe_window_s
        )
        claimed_at_s = now_ns / 1e9
        if not granted:
            claimed_at = self._claim_of(analysis)
            if claimed_at is None:  # a later bar was signalled: this one is stale
                self.store.record_dedup_event(
                    key, "DEDUPED_DB", symbol=analysis.symbol, correlation_id=cid, payload=info, now=when
                )
                return SignalDecision.DEDUPED_DB
            claimed_at_s = to_ns(claimed_at, "last_notify_at") / 1e9
        decision = analysis.final_decision.value if analysis.final_decision is not None else "HOLD"
        fields: dict[str, Any] = {
            "symbol": analysis.symbol,
            "timeframe": analysis.timeframe,
            "bar_ts": analysis.bar_ts.isoformat().replace("+00:00", "Z"),
            "decision": decision,
            "composite_score": round(analysis.composite_score, 2),
        }
        for name in ("rule_confidence_score", "ml_confidence", "stop_loss", "take_profit", "close"):
            value = getattr(analysis, name)
            if value is not None:
                fields[name] = value
        # One key per (bar, dedupe window of its claim): queued again for the same claim, the
        # outbox drops it; a re-notification after the window is a new event.
        window_no = int(claimed_at_s // self.dedupe_window_s)
        result = self.notifier.notify(
            "signal",
            f"{decision} {analysis.symbol} {analysis.timeframe} (score {analysis.composite_score:.0f})",
            severity=Severity.WARNING if decision in ("BUY", "SELL") else Severity.INFO,
            fields=fields,
            error_code=analysis.error_code,
            correlation_id=cid,
            idempotency_key=f"signal-{key[:40]}-{window_no}",
        )
        self.dedupe.check_and_record(key, now_ns, ttl_s=self.dedupe_window_s)
        # NOTIFIED when this call put the notification in the outbox: the claim's owner, or a
        # later call for a claim whose owner died before queueing (REQUEUED). Exactly one
        # call per claim inserts the rows, so exactly one reports NOTIFIED.
        inserted = result.queued > 0 if self.notifier.channels else granted
        action = ("ALLOWED" if granted else "REQUEUED") if inserted else "DEDUPED_DB"
        self.store.record_dedup_event(
            key, action, symbol=analysis.symbol, correlation_id=cid, payload=info, now=when
        )
        return SignalDecision.NOTIFIED if inserted else SignalDecision.DEDUPED_DB

    def _claim_of(self, analysis: Analysis) -> datetime | None:
        """``last_notify_at`` of the pair when its claimed bar is this analysis' bar."""
        for row in self.store.ingestion_status(analysis.symbol):
            if row["timeframe"] == analysis.timeframe and row["last_signal_bar_ts"] == analysis.bar_ts:
                at = row["last_notify_at"]
                return at if isinstance(at, datetime) else None
        return None


__all__ = ["SignalDecision", "SignalHook", "signal_key"]
