"""Monitoring (docs/semantics.md, Monitoring): metrics per tick, rules evaluated in the core, JSONL alerts,
snapshots, retention and aggregation.

::

    svc = MonitoringService(rules="rules.yaml", notifier=notifier).start()
    svc.record_tick({"risk": {"daily_loss_pct": 1.2}, "connectivity": {"broker_authenticated": True}})
    svc.active_alerts(); svc.acknowledge("daily_loss_exceeded")
"""

from __future__ import annotations

from montalaq.monitoring.alerts import Alert, AlertLog
from montalaq.monitoring.history import MetricsHistory, aggregate
from montalaq.monitoring.metrics import (
    Artifacts,
    Connectivity,
    Heartbeat,
    MetricsSnapshot,
    Pnl,
    Positions,
    Risk,
    Sentiment,
    flatten,
)
from montalaq.monitoring.rules import DEFAULT_THRESHOLDS, RuleSet, load_rules
from montalaq.monitoring.service import MonitoringService, MonitoringStats

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Alert",
    "AlertLog",
    "Artifacts",
    "Connectivity",
    "Heartbeat",
    "MetricsHistory",
    "MetricsSnapshot",
    "MonitoringService",
    "MonitoringStats",
    "Pnl",
    "Positions",
    "Risk",
    "RuleSet",
    "Sentiment",
    "aggregate",
    "flatten",
    "load_rules",
]
