"""What a notification may carry, checked before it is stored: a payload no channel could
ever send is refused up front, and severities are named (docs/semantics.md,
"Notifications"; docs/operations.md, "Notifications", dead letters)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from montalaq.notify.message import Severity

MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest notification payload ``notify`` accepts (its JSON, UTF-8)."""
MAX_PAYLOAD_DEPTH = 32
"""The deepest nesting of ``fields`` ``notify`` accepts."""


def check_payload(payload: Mapping[str, Any]) -> None:
    """Refuse, before it is stored, a payload no channel could ever send (regression: such
    rows were retried forever and each retry counted against the channel's breaker):
    nesting deeper than ``MAX_PAYLOAD_DEPTH``, text that is not encodable as UTF-8 (a lone
    surrogate), values that are not JSON, more than ``MAX_PAYLOAD_BYTES``. ValueError naming
    the field."""

    def walk(value: Any, where: str, depth: int) -> None:
        if depth > MAX_PAYLOAD_DEPTH:
            raise ValueError(f"{where}: nested deeper than {MAX_PAYLOAD_DEPTH} levels")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{where}: text that is not valid UTF-8 (a lone surrogate)") from None
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(k, f"{where} key", depth + 1)
                walk(v, f"{where}.{k}" if isinstance(k, str) else where, depth + 1)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]", depth + 1)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a JSON number")
        elif value is not None and not isinstance(value, bool | int | float):
            raise ValueError(f"{where}: {type(value).__name__} is not JSON")

    for key, value in payload.items():
        walk(value, key, 1)
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload: {size} bytes, more than {MAX_PAYLOAD_BYTES}; send less in fields or text")


def severity_of(value: Severity | str) -> Severity:
    """``value`` as a :class:`Severity` (any case); ValueError naming the three."""
    try:
        return value if isinstance(value, Severity) else Severity(str(value).upper())
    except ValueError:
        raise ValueError(f"severity: expected INFO, WARNING or CRITICAL, got {value!r}") from None


__all__ = ["MAX_PAYLOAD_BYTES", "MAX_PAYLOAD_DEPTH", "check_payload", "severity_of"]
