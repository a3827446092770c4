"""Metrics flattening, snapshot files, retention and min/max/mean aggregation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from montalaq.monitoring.history import MetricsHistory, aggregate
from montalaq.monitoring.metrics import Connectivity, Heartbeat, MetricsSnapshot, Risk, flatten

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_flatten_gives_dotted_paths_bools_as_numbers_and_derived_ages() -> None:
    snap = MetricsSnapshot(
        heartbeat=Heartbeat(last_tick=NOW - timedelta(seconds=30), uptime_seconds=3600),
        risk=Risk(circuit_breaker_active=True, daily_loss_pct=1.5),
        connectivity=Connectivity(broker_authenticated=False, last_api_call=NOW - timedelta(seconds=5)),
    )
    flat = flatten(snap, NOW)
    assert flat["risk.circuit_breaker_active"] == 1.0
    assert flat["connectivity.broker_authenticated"] == 0.0
    assert flat["risk.daily_loss_pct"] == 1.5
    assert flat["heartbeat.age_seconds"] == pytest.approx(30.0)
    assert flat["connectivity.last_api_call_age_seconds"] == pytest.approx(5.0)
    assert "risk.max_position_value" not in flat  # missing stays missing, never 0


def test_flatten_of_a_dict_skips_garbage_and_keeps_extra_numeric_fields() -> None:
    flat = flatten(
        {
            "risk": {"daily_loss_pct": float("nan"), "max_position_value": "lots"},
            "positions": {"count": 3, "symbols": ["SPY"]},
            "custom": {"queue_depth": 17},
            "heartbeat": {"last_tick": datetime(2026, 1, 1)},  # naive: unknown, not a crash
        },
        NOW,
    )
    assert flat == {"positions.count": 3.0, "custom.queue_depth": 17.0}


def test_flatten_rejects_what_is_not_metrics() -> None:
    with pytest.raises(TypeError, match="metrics"):
        flatten("risk=1", NOW)  # type: ignore[arg-type]


def test_snapshots_round_trip_and_are_read_in_time_order(tmp_path: Path) -> None:
    h = MetricsHistory(tmp_path)
    for i in (2, 0, 1):
        h.write(
            NOW + timedelta(seconds=i), {"risk": {"daily_loss_pct": i}}, {"risk.daily_loss_pct": float(i)}
        )
    samples = h.read()
    assert [s[1]["risk.daily_loss_pct"] for s in samples] == [0.0, 1.0, 2.0]
    assert samples[0][0] == NOW
    assert h.latest()["metrics"] == {"risk": {"daily_loss_pct": 2}}  # type: ignore[index]
    assert not list(tmp_path.glob("*.tmp"))


def test_unreadable_snapshots_are_skipped(tmp_path: Path) -> None:
    h = MetricsHistory(tmp_path)
    h.write(NOW, {}, {"a": 1.0})
    (tmp_path / "metrics_20261122T120001.000000Z.json").write_text("{torn")
    assert len(h.read()) == 1


def test_retention_deletes_only_snapshots_older_than_the_window(tmp_path: Path) -> None:
    h = MetricsHistory(tmp_path)
    for days in (31, 30.01, 29.99, 0):
        h.write(NOW - timedelta(days=days), {}, {"a": days})
    assert h.prune(NOW, 30) == 2
    assert sorted(s[1]["a"] for s in h.read()) == [0.0, 29.99]


def test_aggregate_matches_a_numpy_reference_per_window() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(100, 5, 600)
    samples = [(NOW + timedelta(seconds=10 * i), {"pnl.daily": float(v)}) for i, v in enumerate(values)]
    rows = aggregate(samples, 300)
    assert len(rows) == 20
    for k, row in enumerate(rows):
        chunk = values[k * 30 : (k + 1) * 30]
        m = row["metrics"]["pnl.daily"]
        assert (m["min"], m["max"], m["count"]) == (chunk.min(), chunk.max(), 30)
        assert m["mean"] == pytest.approx(chunk.mean(), rel=1e-12)
        assert row["window_end"] - row["window_start"] == timedelta(seconds=300)


def test_aggregate_selects_metrics_and_skips_empty_windows() -> None:
    samples = [(NOW, {"a": 1.0, "b": 2.0}), (NOW + timedelta(hours=3), {"a": 3.0})]
    rows = aggregate(samples, 3600, ["a"])
    assert [list(r["metrics"]) for r in rows] == [["a"], ["a"]]
    assert rows[1]["window_start"] - rows[0]["window_start"] == timedelta(hours=3)


@pytest.mark.parametrize("window", [0, -1, math.nan, True])
def test_aggregate_rejects_a_bad_window(window: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        aggregate([], window)
