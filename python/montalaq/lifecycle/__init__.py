"""Process lifecycle: start-up checks, WAITING/ERROR and a graceful, time-boxed shutdown on
SIGTERM/SIGINT (docs/semantics.md, sections Lifecycle and "Lifecycle at run time"; the
modules are listed in docs/architecture.md)::

    lc = Lifecycle(builtin_checks(settings, store), store=store, notifier=notifier,
                   shutdown_steps={"cancel_orders": broker.cancel_all, "disconnect": feed.close})
    lc.install_signal_handlers()        # main thread: SIGTERM -> exit 0, SIGINT -> exit 130
    lc.start()                          # ACTIVE, WAITING (re-checks in the background) or ERROR
    lc.wait_for_shutdown()              # the main thread idles here until a signal arrives
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from montalaq.lifecycle.builtin_checks import builtin_checks
from montalaq.lifecycle.checks import CheckFn, CheckResult, StartupCheck, classify_exception
from montalaq.lifecycle.machine import Lifecycle
from montalaq.lifecycle.protocols import NotifierLike, StateStore
from montalaq.lifecycle.runner import run_check
from montalaq.lifecycle.shutdown import (
    DEFAULT_SHUTDOWN_STEPS,
    ShutdownReport,
    ShutdownStep,
    StepOutcome,
    StepReport,
)
from montalaq.lifecycle.signals import EXIT_CODES

if TYPE_CHECKING:
    from montalaq.settings import Settings


def lifecycle_from_settings(
    settings: Settings,
    checks: Iterable[StartupCheck] | Mapping[str, CheckFn] = (),
    **kwargs: Any,
) -> Lifecycle:
    """A :class:`Lifecycle` with the timings of ``STARTUP_CHECK_RETRIES``,
    ``STARTUP_BACKOFF_BASE_SEC``, ``WAITING_RECHECK_SEC``, ``WAITING_STATUS_SEC`` and
    ``SHUTDOWN_BUDGET_SEC``, ``RUNTIME_FAILURE_CYCLES`` and ``RUNTIME_FAILURE_MIN_SEC``;
    other arguments (store, notifier, steps) as for Lifecycle."""
    options: dict[str, Any] = {
        "retries": settings.startup_check_retries,
        "backoff_base_s": settings.startup_backoff_base_sec,
        "recheck_interval_s": settings.waiting_recheck_sec,
        "status_interval_s": settings.waiting_status_sec,
        "shutdown_budget_s": settings.shutdown_budget_sec,
        "runtime_failure_cycles": settings.runtime_failure_cycles,
        "runtime_failure_min_s": settings.runtime_failure_min_sec,
    }
    options.update(kwargs)
    return Lifecycle(checks, **options)


__all__ = [
    "DEFAULT_SHUTDOWN_STEPS",
    "EXIT_CODES",
    "CheckFn",
    "CheckResult",
    "Lifecycle",
    "NotifierLike",
    "ShutdownReport",
    "ShutdownStep",
    "StartupCheck",
    "StateStore",
    "StepOutcome",
    "StepReport",
    "builtin_checks",
    "classify_exception",
    "lifecycle_from_settings",
    "run_check",
]
