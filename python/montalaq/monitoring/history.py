"""Metrics snapshots on disk and their time-series aggregation (docs/semantics.md, Monitoring).

Each snapshot is ``data/monitoring/metrics_<YYYYMMDDTHHMMSS.ffffffZ>.json`` holding
``{timestamp, metrics (nested, as given), flat ({path: float})}``, written to a temporary
file and renamed, so a reader never sees half a snapshot. Retention deletes snapshots older
than ``retention_days`` (30 by default). :func:`aggregate` gives min/max/mean/count per
window of every numeric metric.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from montalaq._time import iso_z
from montalaq.shapes import AggregateWindow, SnapshotFile

log = logging.getLogger("montalaq.monitoring")

_NAME = re.compile(r"^metrics_(\d{8}T\d{6}\.\d{6})Z\.json$")
_FMT = "%Y%m%dT%H%M%S.%f"

Sample = tuple[datetime, dict[str, float]]


def _stamp(path: Path) -> datetime | None:
    m = _NAME.match(path.name)
    if m is None:
        return None
    return datetime.strptime(m.group(1), _FMT).replace(tzinfo=UTC)


class MetricsHistory:
    """Snapshot files under ``directory`` (default ``data/monitoring``)."""

    def __init__(self, directory: str | Path = "data/monitoring") -> None:
        self.directory = Path(directory)

    def write(self, when: datetime, metrics: dict[str, Any], flat: dict[str, float]) -> Path:
        """Write one snapshot atomically; returns its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        when = when.astimezone(UTC)
        path = self.directory / f"metrics_{when.strftime(_FMT)}Z.json"
        tmp = path.with_suffix(".json.tmp")
        doc = {"timestamp": iso_z(when), "metrics": metrics, "flat": flat}
        tmp.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False, default=str))
        os.replace(tmp, path)
        return path

    def files(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[datetime, Path]]:
        """Snapshot files with their times, oldest first, within [since, until]."""
        if not self.directory.is_dir():
            return []
        out = []
        for p in self.directory.iterdir():
            ts = _stamp(p)
            if ts is None or (since is not None and ts < since) or (until is not None and ts > until):
                continue
            out.append((ts, p))
        out.sort()
        return out

    def read(self, since: datetime | None = None, until: datetime | None = None) -> list[Sample]:
        """``(time, flat metrics)`` of every readable snapshot in range (bad files skipped)."""
        samples: list[Sample] = []
        for ts, path in self.files(since, until):
            try:
                flat = json.loads(path.read_text()).get("flat") or {}
            except (OSError, ValueError, AttributeError):
                continue
            samples.append((ts, {k: float(v) for k, v in flat.items() if isinstance(v, int | float)}))
        return samples

    def latest(self) -> SnapshotFile | None:
        """The newest snapshot document, or None."""
        for _ts, path in reversed(self.files()):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict):
                return cast(SnapshotFile, doc)
        return None

    def prune(self, now: datetime, retention_days: float) -> int:
        """Delete snapshots older than ``retention_days``; returns how many."""
        cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
        removed = 0
        for _ts, path in self.files(until=cutoff - timedelta(microseconds=1)):
            try:
                path.unlink()
                removed += 1
            except OSError as exc:
                log.warning("could not prune %s: %s", path, exc, extra={"component": "monitoring"})
        return removed


def aggregate(
    samples: Iterable[Sample], window_s: float, metrics: Sequence[str] | None = None
) -> list[AggregateWindow]:
    """Min/max/mean/count per metric per window of ``window_s`` seconds (aligned to the
    epoch), oldest window first; windows without samples are left out.

    Returns ``[{window_start, window_end, metrics: {path: {min, max, mean, count}}}]``.
    """
    if (
        isinstance(window_s, bool)
        or not isinstance(window_s, int | float)
        or not math.isfinite(window_s)
        or window_s <= 0
    ):
        raise ValueError(f"window_s: expected seconds > 0, got {window_s!r}")
    wanted = None if metrics is None else set(metrics)
    windows: dict[int, dict[str, list[float]]] = {}
    for ts, flat in samples:
        idx = math.floor(ts.timestamp() / window_s)
        bucket = windows.setdefault(idx, {})
        for path, value in flat.items():
            if (wanted is None or path in wanted) and math.isfinite(value):
                bucket.setdefault(path, []).append(value)
    out: list[AggregateWindow] = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for idx in sorted(windows):
        start = epoch + timedelta(seconds=idx * window_s)
        out.append(
            {
                "window_start": start,
                "window_end": start + timedelta(seconds=window_s),
                "metrics": {
                    path: {"min": min(vs), "max": max(vs), "mean": math.fsum(vs) / len(vs), "count": len(vs)}
                    for path, vs in sorted(windows[idx].items())
                },
            }
        )
    return out


__all__ = ["MetricsHistory", "Sample", "aggregate"]
