"""Time conversions: every public function takes ns, aware datetimes, datetime64, Timestamps;
a ``now`` argument goes through :func:`now_arg` (docs/semantics.md, "Time values in Python")."""

from __future__ import annotations

import enum
import math
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from montalaq.shapes.common import IsoTime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS_NS = 2**62
"""The latest trade time the core accepts (2116-02-20T23:53:38Z; ``max_ts_ns`` in
cpp/include/montalaq/market/trade.hpp): later times are REJECT_TS, so no bar boundary or gap
fill can overflow int64."""
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

TimeLike = int | datetime | np.datetime64 | np.integer[Any]


def to_ns(value: object, name: str = "ts_ns") -> int:
    """Convert one time value to int64 nanoseconds since the Unix epoch (UTC).

    Accepts int ns, aware ``datetime`` (and ``pandas.Timestamp``), ``numpy.datetime64``
    (taken as UTC, numpy's convention). Naive datetimes raise ``ValueError``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected int nanoseconds or a datetime, got bool")
    if isinstance(value, int | np.integer):
        v = int(value)
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise ValueError(f"{name}: {v} does not fit in int64 nanoseconds")
        return v
    if isinstance(value, datetime):
        if type(value).__name__ == "NaTType":  # pandas.NaT is a datetime without a time
            raise ValueError(f"{name}: NaT is not a time")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name}: naive datetime {value!r} is ambiguous; pass an aware datetime "
                "(e.g. datetime(..., tzinfo=timezone.utc)) or int nanoseconds since the epoch"
            )
        ns_attr = getattr(value, "value", None)  # pandas.Timestamp keeps exact ns
        if type(value).__name__ == "Timestamp" and isinstance(ns_attr, int):
            return ns_attr
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"{name}: NaT is not a time")
        return int(datetime64_to_ns(np.asarray([value]), name)[0])
    if isinstance(value, float):
        raise TypeError(
            f"{name}: expected int nanoseconds, an aware datetime, numpy.datetime64 or pandas.Timestamp; "
            f"got float {value!r} (a float cannot be told apart from seconds since the epoch; "
            "time.time_ns() gives int ns)"
        )
    raise TypeError(
        f"{name}: expected int nanoseconds, an aware datetime, numpy.datetime64 or pandas.Timestamp; "
        f"got {type(value).__name__}"
    )


class Unset(enum.Enum):
    """The default of a deprecated time keyword: not passed (None is a value there)."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


def deprecated_now(now: object, old_name: str, stacklevel: int = 3) -> None:
    """The deprecated keyword ``old_name`` (``now_s``, ``now_ns``) was passed in place of
    ``now`` (its default, :data:`UNSET`, tells): a DeprecationWarning attributed to the
    caller's caller (``stacklevel`` 3: the public function's caller); TypeError when ``now``
    was passed too. The caller then converts the old value exactly as it always did."""
    if now is not None:
        raise TypeError(f"pass now= or {old_name}=, not both ({old_name} is deprecated)")
    warnings.warn(
        f"{old_name} is deprecated, pass now= (int ns, datetime or datetime64)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def now_arg(now: object, name: str = "now") -> int | None:
    """A ``now`` argument as int ns; None stays None (the caller's clock: this machine's or
    a server's). Errors name ``name``; a float is refused (it may be seconds)."""
    return None if now is None else to_ns(now, name)


def now_or_old_ns(now: object, now_ns: object) -> int | None:
    """``now`` as int ns, or the deprecated ``now_ns`` keyword passed in its place (UNSET
    when not; it warns at the caller of the public method that calls this); None when
    neither was given (the caller's clock)."""
    if now_ns is UNSET:
        return now_arg(now)
    deprecated_now(now, "now_ns", stacklevel=4)
    return now_arg(now_ns, "now_ns")


def wall_ns(now: object, name: str = "now") -> int:
    """A ``now`` argument as int ns; None is this machine's wall clock."""
    return time.time_ns() if now is None else to_ns(now, name)


_UNIT_NS = {
    "W": 7 * 86_400 * 10**9,
    "D": 86_400 * 10**9,
    "h": 3_600 * 10**9,
    "m": 60 * 10**9,
    "s": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}


def datetime64_to_ns(arr: npt.NDArray[Any], name: str) -> npt.NDArray[np.int64]:
    """datetime64 values of any unit as int64 ns, checking the range: numpy's own cast
    wraps silently (regression: 20213969674 s, year 2610, became 2026-01-01T00:00:00.29Z).
    ValueError naming the first value out of range (before 1677-09-21 or after 2262-04-11)."""
    unit, count = np.datetime_data(arr.dtype)
    if unit in ("Y", "M"):  # calendar units: through days, which hold any year numpy can
        arr = arr.astype("datetime64[D]")
        unit, count = "D", 1
    if unit in ("ps", "fs", "as"):  # finer than ns: the cast truncates, the range only shrinks
        return np.ascontiguousarray(arr.astype("datetime64[ns]").view(np.int64))
    factor = _UNIT_NS[unit] * int(count)
    raw = arr.view(np.int64)
    if factor > 1:
        limit = _INT64_MAX // factor
        bad = np.flatnonzero(np.abs(raw) > limit)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{name}: value at index {i} ({arr[i]}) is outside the int64 nanosecond range "
                "(1677-09-21 .. 2262-04-11)"
            )
        return np.ascontiguousarray(raw * np.int64(factor))
    return np.ascontiguousarray(raw)


def duration_ns(value: object, name: str) -> int:
    """Convert a duration (int ns or ``timedelta``) to int ns; must be >= 0."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected int nanoseconds or a timedelta, got bool")
    if isinstance(value, timedelta):
        ns = (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000
    elif isinstance(value, int | np.integer):
        ns = int(value)
    else:
        raise TypeError(f"{name}: expected int nanoseconds or a timedelta, got {type(value).__name__}")
    if ns < 0:
        raise ValueError(f"{name}: must be >= 0, got {ns}")
    return ns


_MAX_DURATION_NS = 2**62  # far beyond any window, and sums of two stay inside int64


def seconds_to_ns(value: object, name: str, allow_zero: bool = False) -> int:
    """A duration in seconds (int or float, not bool) to int ns; finite, > 0 (or >= 0 with
    ``allow_zero``) and at most 2**62 ns. Errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: expected seconds as a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite seconds, got {value!r}")
    ns = round(value * 1_000_000_000)
    if ns < 0 or (ns == 0 and not allow_zero) or ns > _MAX_DURATION_NS:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: must be {bound} seconds (at most 2^62 ns), got {value!r}")
    return ns


def ts_array(values: object, name: str = "ts_ns") -> npt.NDArray[np.int64]:
    """Coerce timestamps to a contiguous int64 ns array.

    Accepts integer arrays (ns), ``datetime64`` arrays (any unit, taken as UTC), tz-aware
    pandas Series/DatetimeIndex, and sequences of aware datetimes. Floats are refused: their
    unit is ambiguous and they cannot hold ns precision.
    """
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(dtype, "tz", None) is not None:  # pandas tz-aware
        import pandas as pd

        idx = pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None)  # type: ignore[arg-type]
        values = idx.to_numpy(dtype="datetime64[ns]")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array, got shape {arr.shape}")
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            raise ValueError(f"{name}: contains NaT at index {int(np.flatnonzero(np.isnat(arr))[0])}")
        return datetime64_to_ns(arr, name)
    if arr.dtype.kind in "iu":
        if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
            raise ValueError(f"{name}: values exceed int64 nanoseconds")
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype == object:
        return np.fromiter((to_ns(v, name) for v in arr), dtype=np.int64, count=arr.size)
    raise TypeError(
        f"{name}: expected int64 nanoseconds, datetime64 or aware datetimes; got dtype {arr.dtype}"
        + (" (convert seconds with (ts * 1e9).astype('int64'))" if arr.dtype.kind == "f" else "")
    )


def float_array(values: object, name: str) -> npt.NDArray[np.float64]:
    """Coerce a real-valued column to contiguous float64 (ints allowed, bool/str/complex not)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def side_array(values: object, n: int) -> npt.NDArray[np.int8]:
    """Coerce aggressor sides to int8 in {-1, 0, +1}."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"side: expected a one-dimensional array of length {n}, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"side: expected integers +1 (buy), -1 (sell), 0 (unknown); got dtype {arr.dtype}")
    bad = (arr < -1) | (arr > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"side: values must be +1, -1 or 0; index {i} holds {arr[i]}")
    return np.ascontiguousarray(arr, dtype=np.int8)


def iso_utc(ts_ns: int) -> str:
    """ISO-8601 UTC with a trailing Z, microsecond precision."""
    dt = _EPOCH + timedelta(microseconds=ts_ns // 1_000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def datetime_utc(ts_ns: int) -> datetime:
    """Aware UTC datetime (microsecond precision) for a ns timestamp."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)


def iso_z(ts: datetime) -> IsoTime:
    """An aware datetime as ISO-8601 UTC with a ``Z`` suffix (microseconds kept when non-zero)."""
    return IsoTime(ts.astimezone(UTC).isoformat().replace("+00:00", "Z"))
