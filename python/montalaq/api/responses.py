"""JSON bodies and error answers of the HTTP API (docs/semantics.md, Time values in Python;
docs/semantics.md, HTTP API).

Every body is built here: times as ISO-8601 UTC strings with a ``Z``, every float finite
(NaN and ±inf become ``null``), numpy scalars as plain numbers, enums by value, records
through their ``to_dict()``. Endpoints return the bytes directly (a
:class:`starlette.responses.Response`), so FastAPI's per-request response validation is
skipped; the pydantic models in :mod:`montalaq.api.models` document the same shapes in the
OpenAPI schema, and the schema tests hold the bodies to them.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


class ApiError(Exception):
    """An error answer: ``status_code`` with body ``{"detail": detail}`` and ``headers``."""

    def __init__(self, status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers or {})


def bad_parameter(name: str, problem: str) -> ApiError:
    """A 400 naming the parameter: ``"<name>: <problem>"``."""
    return ApiError(400, f"{name}: {problem}")


def shown(value: object, limit: int = 64) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages echo what was sent)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(ts: datetime) -> str:
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """``value`` as plain JSON data (see the module docstring); TypeError for anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value`` (cleaned by :func:`jsonable`; never NaN/Infinity)."""
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_response(value: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response of ``value``."""
    return Response(json_bytes(value), status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)


def error_response(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """``{"detail": detail}`` with ``status_code``."""
    return json_response({"detail": detail}, status_code, headers)


__all__ = [
    "JSON_MEDIA_TYPE",
    "ApiError",
    "bad_parameter",
    "error_response",
    "json_bytes",
    "json_response",
    "jsonable",
    "shown",
]
