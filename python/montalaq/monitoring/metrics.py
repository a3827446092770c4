"""The metrics snapshot of docs/semantics.md, Monitoring as typed records, and its flat ``{path: float}``
form.

``record_tick`` accepts a :class:`MetricsSnapshot` or the same shape as nested dicts
(missing sections and fields are allowed: a missing value is "unknown", never 0). The
rule evaluator and the history read the flat form: dotted paths (``risk.daily_loss_pct``)
to floats, booleans as 1.0/0.0, times as seconds since the epoch, plus two derived
values: ``heartbeat.age_seconds`` (now - last_tick) and ``connectivity.last_api_call_age_seconds``.
Extra numeric fields in a dict are kept under their own paths (user rules may read them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from montalaq._time import UNSET, TimeLike, Unset, deprecated_now, wall_ns
from montalaq.records import as_utc


@dataclass
class Heartbeat:
    """``last_tick``: when the engine last ticked; ``uptime_seconds``: since it started."""

    last_tick: datetime | None = None
    uptime_seconds: float | None = None


@dataclass
class Positions:
    """Open positions: how many, their total value (account currency), which symbols."""

    count: int | None = None
    total_value: float | None = None
    symbols: list[str] = field(default_factory=list)


@dataclass
class Pnl:
    """Profit and loss in account currency."""

    daily: float | None = None
    unrealized: float | None = None
    realized: float | None = None


@dataclass
class Risk:
    """``daily_loss_pct``: today's loss in percent of equity, positive for a loss."""

    circuit_breaker_active: bool | None = None
    daily_loss_pct: float | None = None
    max_position_value: float | None = None


@dataclass
class Sentiment:
    """Sentiment provider health: last score, errors in the last hour, cache hit rate (0-1)."""

    last_score: float | None = None
    provider_errors_1h: int | None = None
    cache_hit_rate: float | None = None


@dataclass
class Connectivity:
    """Broker session and the time of the last successful API call."""

    broker_authenticated: bool | None = None
    last_api_call: datetime | None = None


@dataclass
class Artifacts:
    """Model ages in hours."""

    teacher_model_age_hours: float | None = None
    student_model_age_hours: float | None = None


@dataclass
class MetricsSnapshot:
    """One tick's metrics (docs/semantics.md, Monitoring)."""

    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    positions: Positions = field(default_factory=Positions)
    pnl: Pnl = field(default_factory=Pnl)
    risk: Risk = field(default_factory=Risk)
    sentiment: Sentiment = field(default_factory=Sentiment)
    connectivity: Connectivity = field(default_factory=Connectivity)
    artifacts: Artifacts = field(default_factory=Artifacts)

    def to_dict(self) -> dict[str, Any]:
        """Nested dict with times as ISO-8601 ``Z`` strings (the snapshot file's shape)."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


SECTIONS: dict[str, type[Any]] = {f.name: f.type for f in fields(MetricsSnapshot)}  # type: ignore[misc]
_TIME_FIELDS = {"heartbeat.last_tick", "connectivity.last_api_call"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(path: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if path in _TIME_FIELDS or isinstance(value, datetime):
        return as_utc(value, path).timestamp()
    if isinstance(value, int | float):
        v = float(value)
        return v if math.isfinite(v) else None
    return None  # strings, lists (symbols): not numeric, not a rule input


def flatten(
    metrics: MetricsSnapshot | Mapping[str, Any],
    now: TimeLike | None = None,
    *,
    now_s: float | Unset = UNSET,
) -> dict[str, float]:
    """``metrics`` as ``{dotted path: float}`` plus the derived ages at ``now`` (int ns, an
    aware datetime or datetime64; None: the wall clock). ``now_s=`` (float seconds) is
    deprecated.

    Raises TypeError when ``metrics`` is neither a snapshot nor a mapping of sections.
    Non-numeric leaves are skipped; NaN/inf become missing.
    """
    if now_s is UNSET:
        at_s = wall_ns(now) / 1e9
    else:
        deprecated_now(now, "now_s")
        at_s = now_s
    if is_dataclass(metrics) and not isinstance(metrics, type):
        data: Mapping[str, Any] = asdict(metrics)
    elif isinstance(metrics, Mapping):
        data = metrics
    else:
        raise TypeError(
            f"metrics: expected a MetricsSnapshot or a dict of sections, got {type(metrics).__name__}"
        )
    out: dict[str, float] = {}
    for section, body in data.items():
        if not isinstance(section, str):
            continue
        if isinstance(body, Mapping):
            _flatten_section(out, section, body)
        else:
            num = _number(section, body) if not isinstance(body, datetime) else None
            if num is not None:
                out[section] = num
    _seed_forms(out)
    last_tick = out.get("heartbeat.last_tick")
    if last_tick is not None:
        out["heartbeat.age_seconds"] = max(0.0, at_s - last_tick)
    last_call = out.get("connectivity.last_api_call")
    if last_call is not None:
        out["connectivity.last_api_call_age_seconds"] = max(0.0, at_s - last_call)
    return out


def _flatten_section(out: dict[str, float], section: str, body: Mapping[Any, Any]) -> None:
    for key, value in body.items():
        path = f"{section}.{key}"
        try:
            num = _number(path, value)
        except (TypeError, ValueError):
            num = None  # a naive datetime or garbage: unknown, never a crash
        if num is not None:
            out[path] = num


def _seed_forms(out: dict[str, float]) -> None:
    """The seed's own forms, read as the schema's (docs/operations.md, "Metrics"):

    - a daily loss given as a negative percentage: ``risk.daily_loss_pct = -6`` is a 6 %
      loss, and ``pnl.daily_loss_pct`` (the seed's place for it) is today's result in
      percent, negative for a loss; either fills ``risk.daily_loss_pct`` as the loss's size;
    - ``connectivity.<broker>_authenticated`` (``breeze_authenticated``, ...): the broker
      session is authenticated only while every such field is (their minimum), unless
      ``connectivity.broker_authenticated`` is given itself.
    """
    loss = out.get("risk.daily_loss_pct")
    if loss is not None and loss < 0:
        out["risk.daily_loss_pct"] = -loss
    elif loss is None and "pnl.daily_loss_pct" in out:
        out["risk.daily_loss_pct"] = max(0.0, -out["pnl.daily_loss_pct"])
    if "connectivity.broker_authenticated" not in out:
        sessions = [
            v for k, v in out.items() if k.startswith("connectivity.") and k.endswith("_authenticated")
        ]
        if sessions:
            out["connectivity.broker_authenticated"] = min(sessions)


def known_path(path: str) -> bool:
    """Whether ``path`` is a field of the metrics schema, a seed form of one, a derived
    age, or one of montalaq's own sections (``montalaq``, ``pairs``, ``channels``,
    ``errors``)."""
    section, _, key = path.partition(".")
    if section in OWN_SECTIONS:
        return True
    if path in _DERIVED or path == "pnl.daily_loss_pct":
        return True
    if section == "connectivity" and key.endswith("_authenticated"):
        return True
    return key in _FIELDS.get(section, ())


_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(f.name for f in fields(cls))
    for name, cls in (
        ("heartbeat", Heartbeat),
        ("positions", Positions),
        ("pnl", Pnl),
        ("risk", Risk),
        ("sentiment", Sentiment),
        ("connectivity", Connectivity),
        ("artifacts", Artifacts),
    )
}
OWN_SECTIONS = frozenset({"montalaq", "pairs", "channels", "errors"})
_DERIVED = frozenset({"heartbeat.age_seconds", "connectivity.last_api_call_age_seconds"})


def snapshot_dict(metrics: MetricsSnapshot | Mapping[str, Any]) -> dict[str, Any]:
    """The nested JSON-able form of ``metrics`` (for the snapshot files)."""
    if isinstance(metrics, MetricsSnapshot):
        return metrics.to_dict()
    source = asdict(metrics) if is_dataclass(metrics) and not isinstance(metrics, type) else dict(metrics)
    out: dict[str, Any] = _jsonable(source)
    return out


__all__ = [
    "Artifacts",
    "Connectivity",
    "Heartbeat",
    "MetricsSnapshot",
    "Pnl",
    "Positions",
    "Risk",
    "Sentiment",
    "flatten",
    "known_path",
    "snapshot_dict",
]
