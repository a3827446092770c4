"""The monitoring service: metrics in, alerts out.

``record_tick(metrics)`` is what an engine calls after every tick: it queues the metrics and
returns (never blocks, never raises). A background worker evaluates the rules in the native
core for each tick (and on a timer, so ``heartbeat_lapsed`` fires when ticks stop), appends
FIRING/RESOLVED alerts to the JSONL log, forwards them to the notifier when one is given,
writes snapshots and prunes old files. Hand-off, files, rule state across restarts:
docs/semantics.md, "Monitoring".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from montalaq import correlation
from montalaq._time import datetime_utc
from montalaq.monitoring.alerts import Alert, AlertLog
from montalaq.monitoring.history import MetricsHistory, aggregate
from montalaq.monitoring.metrics import MetricsSnapshot, flatten, known_path, snapshot_dict
from montalaq.monitoring.rules import RuleSet
from montalaq.shapes import AggregateWindow, MonitoringStatus, RuleTransition

if TYPE_CHECKING:
    from montalaq.notify import Notifier
    from montalaq.settings import Settings

log = logging.getLogger("montalaq.monitoring")
alert_log = logging.getLogger("montalaq.alert")

_NS = 1_000_000_000
_LEVELS = {"INFO": logging.INFO, "WARNING": logging.WARNING, "CRITICAL": logging.CRITICAL}


@dataclass
class MonitoringStats:
    """Counters since start (this process)."""

    ticks: int = 0
    processed: int = 0
    dropped: int = 0
    bad_ticks: int = 0
    evaluations: int = 0
    alerts: int = 0
    snapshots: int = 0
    worker_errors: int = 0
    unknown_metrics: int = 0  # ticks carrying a metric name no schema field nor rule reads


class MonitoringService:
    """Metrics in, alerts out (docs/semantics.md, "Monitoring").

    ``rules``: user rules (a YAML/JSON path, a list of mappings, or ``{"rules": [...]}``);
    ``thresholds``: the built-in rules' thresholds (:data:`montalaq.monitoring.rules.
    DEFAULT_THRESHOLDS`); ``notifier``: forward every alert (kind ``alert``, the alert id as
    idempotency key); ``clock``: int ns (tests pass a fake one); ``extra_rules``: rules a
    process adds to the user's (montalaq's own service rules, see :mod:`montalaq.ops`).
    """

    def __init__(
        self,
        *,
        alerts_dir: str | Path = "logs/alerts",
        metrics_dir: str | Path = "data/monitoring",
        rules: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        thresholds: Mapping[str, float] | None = None,
        builtin_rules: bool = True,
        extra_rules: Sequence[Mapping[str, Any]] = (),
        notifier: Notifier | None = None,
        snapshot_interval_s: float = 60.0,
        eval_interval_s: float = 1.0,
        alert_retention_days: float = 90.0,
        metrics_retention_days: float = 30.0,
        max_queue: int = 100_000,
        poll_interval_s: float = 0.01,
        clock: Any = time.time_ns,
    ) -> None:
        for name, value in (
            ("snapshot_interval_s", snapshot_interval_s),
            ("eval_interval_s", eval_interval_s),
            ("alert_retention_days", alert_retention_days),
            ("metrics_retention_days", metrics_retention_days),
            ("poll_interval_s", poll_interval_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name}: expected a number > 0, got {value!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue: expected an integer >= 1, got {max_queue!r}")
        self.rules = RuleSet(rules, builtin=builtin_rules, thresholds=thresholds)
        if extra_rules:
            self.rules.add(list(extra_rules))
        self.alert_log = AlertLog(alerts_dir)
        self.history = MetricsHistory(metrics_dir)
        self.notifier = notifier
        self.snapshot_interval_ns = int(snapshot_interval_s * _NS)
        self.eval_interval_ns = int(eval_interval_s * _NS)
        self.alert_retention_days = float(alert_retention_days)
        self.metrics_retention_days = float(metrics_retention_days)
        self.poll_interval_s = float(poll_interval_s)
        self.clock = clock
        self.stats = MonitoringStats()
        self._queue: deque[tuple[int, Any]] = deque(maxlen=max_queue)
        self._max_queue = max_queue
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_ns = clock()
        self._last_flat: dict[str, float] = {}
        self._last_metrics: Any = None
        self._last_tick_ns: int | None = None
        self._last_eval_ns = 0
        self._last_snapshot_ns = 0
        self._last_prune_ns = 0
        self._state_path = Path(metrics_dir) / "rules_state.json"
        self._ack_lock = threading.Lock()
        self._pending_acks: deque[str] = deque()
        self.unknown_metrics: set[str] = set()  # names seen that nothing reads (bounded)
        self._restore_state()

    @classmethod
    def from_settings(
        cls, settings: Settings, notifier: Notifier | None = None, **overrides: Any
    ) -> MonitoringService:
        """A service configured from ``MONITOR_*``, ``ALERTS_DIR``, ``METRICS_DIR`` and the
        retention settings (docs/semantics.md, Settings)."""
        kwargs: dict[str, Any] = {
            "alerts_dir": settings.alerts_dir,
            "metrics_dir": settings.metrics_dir,
            "rules": settings.monitor_rules_file,
            "thresholds": {
                "sentiment_errors_per_hour": settings.monitor_sentiment_errors_per_hour,
                "teacher_model_max_age_hours": settings.monitor_teacher_model_max_age_hours,
                "student_model_max_age_hours": settings.monitor_student_model_max_age_hours,
                "heartbeat_max_age_s": settings.monitor_heartbeat_max_age_sec,
                "daily_loss_max_pct": settings.monitor_daily_loss_max_pct,
            },
            "snapshot_interval_s": settings.monitor_snapshot_interval_sec,
            "alert_retention_days": settings.alert_retention_days,
            "metrics_retention_days": settings.metrics_retention_days,
            "notifier": notifier,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- caller side ----------------------------------------------------------------------
    def record_tick(self, metrics: MetricsSnapshot | Mapping[str, Any] | None = None) -> None:
        """Hand one tick's metrics to the worker; returns at once and never raises."""
        try:
            q = self._queue
            if len(q) >= self._max_queue:
                self.stats.dropped += 1  # the deque drops the oldest on append
            q.append((self.clock(), metrics))
            self.stats.ticks += 1
        except Exception:  # never into the caller: a broken clock is counted, not raised
            self.stats.bad_ticks += 1

    def acknowledge(self, alert_id_or_rule: str) -> bool:
        """Acknowledge a firing alert by its id or its rule name; False if none is firing."""
        firing = {a["rule"] for a in self.rules.active()} if self._thread is None else None
        for a in self.alert_log.active():
            if alert_id_or_rule in (a.id, a.rule):
                if firing is not None and a.rule not in firing:
                    continue
                self.alert_log.acknowledge(a.id, datetime_utc(self.clock()))
                with self._ack_lock:
                    self._pending_acks.append(a.rule)
                return True
        return False

    def active_alerts(self) -> list[Alert]:
        """Alerts currently firing (from the log, acknowledgements folded in)."""
        return self.alert_log.active()

    def aggregate(
        self, window_s: float, since: datetime | None = None, until: datetime | None = None
    ) -> list[AggregateWindow]:
        """Min/max/mean/count per metric per window over the snapshots on disk."""
        return aggregate(self.history.read(since, until), window_s)

    # -- worker ---------------------------------------------------------------------------
    def start(self) -> MonitoringService:
        """Start the background worker (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="montalaq-monitoring", daemon=True)
            self._thread.start()
            log.info("monitoring started", extra={"component": "monitoring"})
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Process what is queued, write a last snapshot, stop the worker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        log.info("monitoring stopped", extra={"component": "monitoring"})

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every tick recorded so far has been processed (tests, shutdown)."""
        target = self.stats.ticks
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats.processed + self.stats.dropped + self.stats.bad_ticks >= target and not self._queue:
                return True
            if self._thread is None:
                self.run_once()
            else:
                time.sleep(0.002)
        return False

    def __enter__(self) -> MonitoringService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self.run_once()
            except Exception:
                self.stats.worker_errors += 1
                log.exception("monitoring pass failed", extra={"component": "monitoring"})
            if stopping:
                self._snapshot(self.clock(), force=True)
                return
            self._stop.wait(self.poll_interval_s)

    def run_once(self) -> None:
        """One worker pass: every queued tick, then the timers (evaluation, snapshot, prune)."""
        with self._ack_lock:
            while self._pending_acks:
                rule = self._pending_acks.popleft()
                self.rules.acknowledge(rule, self.clock())
        q = self._queue
        while q:
            try:
                ts_ns, metrics = q.popleft()
            except IndexError:
                break
            self._process(ts_ns, metrics)
        now = self.clock()
        if now - self._last_eval_ns >= self.eval_interval_ns:
            self._evaluate(now, self._with_ages(now))
        self._snapshot(now)
        if now - self._last_prune_ns >= 86_400 * _NS:
            self._prune(now)

    def _process(self, ts_ns: int, metrics: Any) -> None:
        try:
            flat = flatten(metrics if metrics is not None else {}, ts_ns)
        except Exception as exc:
            self.stats.bad_ticks += 1
            log.warning("bad metrics ignored: %s", exc, extra={"component": "monitoring"})
            return
        self._note_unknown(flat)
        if "heartbeat.last_tick" not in flat:
            # The tick itself is the heartbeat when the metrics do not say otherwise.
            flat["heartbeat.last_tick"] = ts_ns / _NS
            flat["heartbeat.age_seconds"] = 0.0
        self._last_flat = flat
        self._last_metrics = metrics
        self._last_tick_ns = ts_ns
        self.stats.processed += 1
        self._evaluate(ts_ns, flat)

    def _note_unknown(self, flat: Mapping[str, float]) -> None:
        """Count metric names that neither the schema nor a rule reads (a typo, or a field
        of another schema), and warn once per name: they are never silently ignored."""
        read = self.rules.metric_paths
        unknown = [p for p in flat if p not in read and not known_path(p)]
        if not unknown:
            return
        self.stats.unknown_metrics += 1
        for path in unknown:
            if path not in self.unknown_metrics and len(self.unknown_metrics) < 1000:
                self.unknown_metrics.add(path)
                log.warning(
                    "metric %r is not in the metrics schema and no rule reads it (kept in the "
                    "snapshots; see docs/operations.md, Metrics)",
                    path,
                    extra={"component": "monitoring", "metric": path},
                )

    def _with_ages(self, now_ns: int) -> dict[str, float]:
        flat = dict(self._last_flat)
        now_s = now_ns / _NS
        last_tick = flat.get("heartbeat.last_tick", self._started_ns / _NS)
        flat["heartbeat.age_seconds"] = max(0.0, now_s - last_tick)
        if "connectivity.last_api_call" in flat:
            flat["connectivity.last_api_call_age_seconds"] = max(
                0.0, now_s - flat["connectivity.last_api_call"]
            )
        return flat

    def _evaluate(self, now_ns: int, flat: Mapping[str, float]) -> None:
        self._last_eval_ns = now_ns
        self.stats.evaluations += 1
        events = self.rules.evaluate(now_ns, flat)
        if not events:
            return
        for event in events:
            self._emit(event)
        self._save_state()

    def _emit(self, event: RuleTransition) -> None:
        state = str(event["state"])
        severity = str(event["severity"])
        message = str(event["message"])  # the core words RESOLVED messages itself
        alert = Alert(
            timestamp=datetime_utc(int(event["at_ns"])),
            severity=severity,
            rule=str(event["rule"]),
            message=message,
            context={
                "state": state,
                "metric": event["metric"],
                "value": event["value"],
                "threshold": event["threshold"],
                "since": datetime_utc(int(event["since_ns"])).isoformat().replace("+00:00", "Z"),
                "correlation_id": correlation.get(),
            },
        )
        try:
            self.alert_log.append(alert)
        except OSError:
            log.exception("could not write alert %s", alert.id, extra={"component": "monitoring"})
        self.stats.alerts += 1
        alert_log.log(
            _LEVELS.get(severity, logging.WARNING),
            "%s %s: %s",
            state,
            alert.rule,
            message,
            extra={"component": "alert", "rule": alert.rule, "alert_id": alert.id, "severity": severity},
        )
        if self.notifier is not None:
            try:
                self.notifier.notify(
                    "alert",
                    f"{state} {alert.rule}",
                    message,
                    severity=severity if state == "FIRING" else "INFO",
                    fields={
                        "metric": event["metric"],
                        "value": event["value"],
                        "threshold": event["threshold"],
                    },
                    idempotency_key=f"alert-{alert.id}",
                )
            except Exception:
                log.exception(
                    "could not queue alert %s for notification", alert.id, extra={"component": "monitoring"}
                )

    def _snapshot(self, now_ns: int, *, force: bool = False) -> None:
        if self._last_metrics is None and not self._last_flat:
            return
        if not force and now_ns - self._last_snapshot_ns < self.snapshot_interval_ns:
            return
        if force and self._last_snapshot_ns >= (self._last_tick_ns or 0):
            return
        self._last_snapshot_ns = now_ns
        try:
            nested = snapshot_dict(self._last_metrics) if self._last_metrics is not None else {}
            self.history.write(datetime_utc(now_ns), nested, self._with_ages(now_ns))
            self.stats.snapshots += 1
        except (OSError, TypeError, ValueError):
            log.exception("could not write a metrics snapshot", extra={"component": "monitoring"})

    def _prune(self, now_ns: int) -> None:
        self._last_prune_ns = now_ns
        now = datetime_utc(now_ns)
        alerts = self.alert_log.prune(now, self.alert_retention_days)
        snaps = self.history.prune(now, self.metrics_retention_days)
        if alerts or snaps:
            log.info(
                "pruned %d alert files and %d snapshots", alerts, snaps, extra={"component": "monitoring"}
            )

    def _save_state(self) -> None:
        try:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._state_path.with_suffix(".tmp")
            tmp.write_text(self.rules.state_json())
            os.replace(tmp, self._state_path)
        except OSError:
            log.exception("could not save rule state", extra={"component": "monitoring"})

    def _restore_state(self) -> None:
        if not self._state_path.is_file():
            return
        try:
            self.rules.load_state_json(self._state_path.read_text())
        except (OSError, ValueError) as exc:
            # A state from another rule set (rules changed) or a damaged file: start clean.
            log.warning("rule state not restored: %s", exc, extra={"component": "monitoring"})

    def status(self) -> MonitoringStatus:
        """Counters, queue depth and the rules that are firing now."""
        return {
            "stats": dict(vars(self.stats)),
            "queue": len(self._queue),
            "rules": self.rules.rule_count,
            "firing": self.rules.active(),
            "last_tick": None if self._last_tick_ns is None else datetime_utc(self._last_tick_ns),
            "unknown_metrics": sorted(self.unknown_metrics),
            "started": datetime_utc(self._started_ns),
        }


__all__ = ["MonitoringService", "MonitoringStats"]
