"""Routes the core's spdlog records into Python logging (logger ``montalaq.native``)."""

from __future__ import annotations

import atexit
import json
import logging
import threading

from montalaq._native import native_logging as _nl

_LOGGER = logging.getLogger("montalaq.native")
# spdlog levels 0..5 -> Python levels
_TO_PY = {0: 5, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR, 5: logging.CRITICAL}
_FROM_PY = [
    (logging.DEBUG - 5, 0),
    (logging.DEBUG, 1),
    (logging.INFO, 2),
    (logging.WARNING, 3),
    (logging.ERROR, 4),
    (logging.CRITICAL, 5),
]


class _Forwarder:
    """The one drain thread and the message format, shared by every configure call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.json = False


_state = _Forwarder()


def drain_native_logs() -> int:
    """Move buffered native records into ``logging``; returns how many were moved."""
    records = _nl.drain()
    for ts_ns, level, logger, message in records:
        py_level = _TO_PY.get(level, logging.ERROR)
        if not _LOGGER.isEnabledFor(py_level):
            continue
        extra = {"native_logger": logger, "native_ts_ns": ts_ns}
        text = json.dumps({"logger": logger, "ts_ns": ts_ns, "message": message}) if _state.json else message
        _LOGGER.log(py_level, text, extra=extra)
    return len(records)


def _pump(interval_s: float) -> None:
    while not _state.stop.wait(interval_s):
        drain_native_logs()


def configure_logging(
    level: int | str = logging.WARNING, json: bool = False, interval_s: float = 0.2
) -> None:
    """Set the native log level and forward native records to the ``montalaq.native`` logger.

    The core buffers records (never taking the GIL); a daemon thread drains the buffer
    every ``interval_s`` seconds and at exit. ``json=True`` formats each message as a JSON
    object. This configures no handler: the application's logging setup decides output.
    """
    py_level = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(py_level, int):
        raise ValueError(f"level: unknown logging level {level!r}")
    if interval_s <= 0:
        raise ValueError(f"interval_s: must be > 0, got {interval_s}")
    native = 6  # off
    for threshold, spd in reversed(_FROM_PY):
        if py_level <= threshold:
            native = spd
    if py_level > logging.CRITICAL:
        native = 6
    _nl.set_level(native)
    _state.json = json
    with _state.lock:
        if _state.thread is None:
            _state.stop.clear()
            _state.thread = threading.Thread(
                target=_pump, args=(interval_s,), name="montalaq-native-log", daemon=True
            )
            _state.thread.start()
            atexit.register(drain_native_logs)
