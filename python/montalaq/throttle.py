"""Notification throttling per error type, in the native core: the first occurrence of a
type in its window notifies, later ones are counted, and the notifications of one
aggregation window go out as one digest (docs/semantics.md, "Guards", Notification throttle)::

    throttle = ErrorThrottle()
    throttle.report("BROKER", "order rejected")  # NOTIFY: buffered for the next digest
    for digest in throttle.flush():              # due once the 60 s aggregation window is over
        send(format_digest(digest))
    recovery = throttle.resolve("BROKER")        # one recovery message, or None
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from montalaq._native import guard as _g
from montalaq._time import datetime_utc, seconds_to_ns
from montalaq.shapes import DigestEntry, ThrottleRecovery, ThrottleSummaryRow

ThrottleDecision = _g.ThrottleDecision

#: docs/semantics.md, Guards windows in seconds; other types use ``default_window_s``.
DEFAULT_WINDOWS_S: Mapping[str, float] = {
    "STARTUP": 3600.0,
    "WEBSOCKET": 3600.0,
    "BROKER": 1800.0,
    "DATABASE": 3600.0,
}


def _type_name(error_type: object) -> str:
    """The type's name: a str, or the ``name`` of an enum member such as ErrorCode.BROKER."""
    if isinstance(error_type, str):
        return error_type
    name = getattr(error_type, "name", None)
    if isinstance(name, str) and not isinstance(error_type, type):
        return name
    raise TypeError(
        "error_type: expected a non-empty name such as 'BROKER' (or an ErrorCode), "
        f"got {type(error_type).__name__}"
    )


def _message(message: object) -> str:
    if message is None:
        return ""
    if isinstance(message, BaseException):
        message = f"{type(message).__name__}: {message}"
    if not isinstance(message, str):
        raise TypeError(f"message: expected a str or an exception, got {type(message).__name__}")
    # A lone surrogate (text decoded with surrogateescape, say) cannot cross into the core
    # as UTF-8: it is replaced, never an error (regression: it raised pybind's TypeError).
    return message.encode("utf-8", "replace").decode("utf-8")


def _time(ns: int | None) -> datetime | None:
    return None if ns is None else datetime_utc(ns)


def _entry(raw: dict[str, Any]) -> DigestEntry:
    return {
        "error_type": raw["error_type"],
        "count": raw["count"],
        "first_seen": datetime_utc(raw["first_seen_ns"]),
        "last_seen": datetime_utc(raw["last_seen_ns"]),
        "message": raw["message"],
        "resolved_at": _time(raw["resolved_at_ns"]),
    }


class ErrorThrottle(_g.ErrorThrottle):
    """Per-error-type throttle windows with aggregated digests (docs/semantics.md, Guards).

    ``windows`` maps type names to seconds and overrides :data:`DEFAULT_WINDOWS_S` for those
    types; ``default_window_s`` applies to every other type; ``aggregation_s`` (>= 0; 0 sends
    each notification on its own) is the digest window; ``max_types`` bounds the distinct
    types kept (one more raises ValueError: a message passed as a type, usually).

    Thread safety: calls are serialised by the GIL (the native calls never release it).
    """

    def __init__(
        self,
        windows: Mapping[str, float] | None = None,
        aggregation_s: float = 60.0,
        *,
        default_window_s: float = 3600.0,
        max_types: int = 1024,
    ) -> None:
        if windows is not None and not isinstance(windows, Mapping):
            raise TypeError(f"windows: expected a mapping {{type: seconds}}, got {type(windows).__name__}")
        merged: dict[str, int] = {
            k: seconds_to_ns(v, f"windows[{k!r}]") for k, v in DEFAULT_WINDOWS_S.items()
        }
        given: dict[str, str] = {}
        for key, seconds in (windows or {}).items():
            name = _type_name(key)
            canon = _g.canonical_error_type(name)
            if canon in given:
                raise ValueError(f"windows: {given[canon]!r} and {name!r} name the same type {canon!r}")
            given[canon] = name
            merged[canon] = seconds_to_ns(seconds, f"windows[{name!r}]")
        if isinstance(max_types, bool) or not isinstance(max_types, int) or not 1 <= max_types <= 10**9:
            raise ValueError(f"max_types: expected an integer in [1, 1000000000], got {max_types!r}")
        super().__init__(
            seconds_to_ns(default_window_s, "default_window_s"),
            seconds_to_ns(aggregation_s, "aggregation_s", allow_zero=True),
            merged,
            max_types,
        )

    @classmethod
    def from_json(cls, text: str) -> ErrorThrottle:
        """A throttle (config, counts, buffered digests) from ``to_json()``; ValueError on a bad document."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a JSON string, got {type(text).__name__}")
        throttle = cls()
        throttle.load_json(text)
        return throttle

    def report(self, error_type: Any, message: Any = "", now: Any = None) -> ThrottleDecision:
        """Record one occurrence of ``error_type`` (with a sample ``message``: str or exception).

        Returns ``NOTIFY`` for the first occurrence in the type's window (it goes out in the
        next digest) and ``SUPPRESSED`` otherwise (counted only).
        """
        return self._report(_type_name(error_type), now, _message(message))

    def flush(self, now: Any = None) -> list[list[DigestEntry]]:
        """Digests that are due, oldest first; each one message listing its error types.

        A digest is a list of ``{error_type, count, first_seen, last_seen, message,
        resolved_at}``, in the order the types first notified. Flushed digests count as sent.
        """
        return [[_entry(e) for e in d["entries"]] for d in self._flush(now)]

    def resolve(self, error_type: Any, now: Any = None) -> ThrottleRecovery | None:
        """End the type's episode; the next occurrence notifies again.

        Returns the recovery message ``{error_type, resolved_at, since, last_seen, count}``
        (``count``: occurrences in the episode) when the type was active and its error was
        already sent; None when it was not active (never reported, or already resolved) or
        when its notification is still buffered (the digest entry then carries ``resolved_at``).
        """
        raw = self._resolve(_type_name(error_type), now)
        if raw is None:
            return None
        return {
            "error_type": raw["error_type"],
            "resolved_at": datetime_utc(raw["resolved_at_ns"]),
            "since": datetime_utc(raw["since_ns"]),
            "last_seen": datetime_utc(raw["last_seen_ns"]),
            "count": raw["count"],
        }

    def summary(self) -> list[ThrottleSummaryRow]:
        """One row per error type, sorted by type: ``{error_type, first_occurrence,
        last_occurrence, count, notifications_sent, resolved, resolved_at}``.

        ``count`` is every occurrence reported; ``notifications_sent`` counts the digests
        flushed with the type plus its recovery messages.
        """
        return [
            {
                "error_type": r["error_type"],
                "first_occurrence": datetime_utc(r["first_occurrence_ns"]),
                "last_occurrence": datetime_utc(r["last_occurrence_ns"]),
                "count": r["count"],
                "notifications_sent": r["notifications_sent"],
                "resolved": r["resolved"],
                "resolved_at": _time(r["resolved_at_ns"]),
            }
            for r in self._summary()
        ]

    def window_s(self, error_type: Any) -> float:
        """The throttle window of ``error_type`` in seconds."""
        return super().window_s(_type_name(error_type))

    @property
    def next_flush(self) -> Any:
        """Aware UTC datetime at which the oldest buffered digest is due, or None."""
        return _time(self.next_flush_ns)


def format_digest(digest: Sequence[DigestEntry]) -> str:
    """One digest as the text of one message: a line per error type with its count."""
    head = f"{len(digest)} error type{'s' if len(digest) != 1 else ''} reported"
    lines = [head]
    for e in digest:
        span = e["first_seen"].strftime("%Y-%m-%dT%H:%M:%SZ")
        if e["last_seen"] != e["first_seen"]:
            span += " .. " + e["last_seen"].strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"- {e['error_type']} x{e['count']} ({span})"
        if e["message"]:
            line += f": {e['message']}"
        if e["resolved_at"] is not None:
            line += f" [resolved {e['resolved_at'].strftime('%Y-%m-%dT%H:%M:%SZ')}]"
        lines.append(line)
    return "\n".join(lines)


__all__ = ["DEFAULT_WINDOWS_S", "ErrorThrottle", "ThrottleDecision", "format_digest"]
