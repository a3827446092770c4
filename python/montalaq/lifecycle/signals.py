"""SIGTERM and SIGINT: the shutdown once, then the exit code of the first signal (0 and
130); later signals are logged and ignored (docs/semantics.md, section Lifecycle, "Signals")."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType, MappingProxyType
from typing import Any

from montalaq.lifecycle._log import COMPONENT, log

EXIT_CODES: Mapping[int, int] = MappingProxyType({int(signal.SIGTERM): 0, int(signal.SIGINT): 130})
"""Process exit code after the graceful shutdown started by each signal."""


def raise_system_exit(code: int) -> None:
    """The default ``on_exit``: unwind the main thread and exit with ``code``."""
    raise SystemExit(code)


class SignalHandlers:
    """Handlers that call ``shutdown(reason)`` and then ``on_exit(code)``. ``lock`` is the
    lifecycle's re-entrant lock; ``running_here()`` (called under it) says whether the
    host's own shutdown is running on this thread, in which case the exit waits for
    :meth:`exit_if_pending`."""

    def __init__(
        self,
        lock: threading.RLock,
        shutdown: Callable[[str], object],
        running_here: Callable[[], bool],
    ) -> None:
        self._lock = lock
        self._shutdown = shutdown
        self._running_here = running_here
        self._exit_code: int | None = None
        self._pending_exit: int | None = None
        self._on_exit: Callable[[int], object] = raise_system_exit
        self._previous_handlers: dict[int, Any] = {}

    def install(self, on_exit: Callable[[int], object] | None) -> None:
        """Replace the SIGTERM and SIGINT handlers (main thread only; ValueError elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            raise ValueError(
                "install_signal_handlers: call it from the main thread (Python runs signal handlers there)"
            )
        if on_exit is not None and not callable(on_exit):
            raise TypeError(
                f"on_exit: expected a callable taking the exit code, got {type(on_exit).__name__}"
            )
        self._on_exit = on_exit if on_exit is not None else raise_system_exit
        for signum in EXIT_CODES:
            previous = signal.signal(signum, self.handle)
            self._previous_handlers.setdefault(signum, previous)

    def restore(self) -> None:
        """Put back the handlers that :meth:`install` replaced (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("restore_signal_handlers: call it from the main thread")
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()

    def exit_if_pending(self) -> None:
        """After the host's own shutdown finished: the exit a signal asked for meanwhile."""
        pending, self._pending_exit = self._pending_exit, None
        if pending is not None:
            self._on_exit(pending)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler (Python runs it in the main thread)."""
        name = signal.Signals(signum).name
        code = EXIT_CODES.get(signum, 0)
        with self._lock:
            first = self._exit_code is None
            if first:
                self._exit_code = code
            running_here = self._running_here()
            if first and running_here:
                # The host's own shutdown() is running on this thread: exit once it is done.
                self._pending_exit = code
        if not first:
            log.warning(
                "%s received while shutting down: ignored (the shutdown runs once)",
                name,
                extra={"component": COMPONENT, "signal": name},
            )
            return
        if running_here:
            return
        log.warning(
            "%s received: graceful shutdown, then exit %d",
            name,
            code,
            extra={"component": COMPONENT, "signal": name},
        )
        self._shutdown(f"signal {name}")
        self._on_exit(code)
