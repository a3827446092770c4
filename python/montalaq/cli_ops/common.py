"""What the operator commands share: exit codes, severity colours, ``--since``-style times,
the default folders, JSON-ready values and clipped cells (docs/semantics.md, "Operator CLI")."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from montalaq.monitoring.alerts import Alert
    from montalaq.shapes import AlertDoc

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STYLE = {"INFO": "cyan", "WARNING": "yellow", "CRITICAL": "bold red"}
"""The rich style of each alert severity."""


def when(text: str | None, name: str) -> datetime | None:
    """``--since 2h`` (a duration back from now) or an ISO-8601 time (``Z`` or offset)."""
    if text is None:
        return None
    from montalaq.timeframes import parse_timeframe

    try:
        return datetime.now(UTC) - timedelta(microseconds=parse_timeframe(text) // 1000)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}: expected a duration such as 2h, 30m, 7d or an ISO-8601 time, got {text!r}"
        ) from None
    if ts.tzinfo is None:
        raise ValueError(f"{name}: an ISO time needs a time zone (Z or +hh:mm), got {text!r}")
    return ts.astimezone(UTC)


def fill_dirs(args: argparse.Namespace) -> None:
    """Fill ``--alerts-dir``/``--metrics-dir`` not given from ``ALERTS_DIR``/``METRICS_DIR``."""
    from montalaq.settings import Settings

    if getattr(args, "alerts_dir", "") is None or getattr(args, "metrics_dir", "") is None:
        settings = Settings.from_env()
        if getattr(args, "alerts_dir", "") is None:
            args.alerts_dir = settings.alerts_dir
        if getattr(args, "metrics_dir", "") is None:
            args.metrics_dir = settings.metrics_dir


def alert_row(a: Alert) -> AlertDoc:
    """An alert as its JSON line (``Alert.to_dict``)."""
    return a.to_dict()


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (a wrapped cell stays a few lines)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jsonable(value: Any) -> Any:
    """``value`` for ``json.dumps``: datetimes as ISO-8601 with ``Z``, in dicts and lists too."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "STYLE",
    "alert_row",
    "clip",
    "fill_dirs",
    "jsonable",
    "when",
]
