"""Process lifecycle (docs/semantics.md, "Lifecycle"): start-up health checks, WAITING/ERROR handling, and a
graceful, time-boxed shutdown on SIGTERM/SIGINT.

::

    lc = Lifecycle(builtin_checks(settings, store), store=store, notifier=notifier,
                   shutdown_steps={"cancel_orders": broker.cancel_all, "disconnect": feed.close})
    lc.install_signal_handlers()        # main thread: SIGTERM -> exit 0, SIGINT -> exit 130
    lc.start()                          # ACTIVE, WAITING (re-checks in the background) or ERROR
    lc.wait_for_shutdown()              # the main thread idles here until a signal arrives

Checks
    A check is a named callable ``() -> CheckResult | bool | None``: ``True``/``None`` is a
    pass, ``False`` a TRANSIENT failure, a :class:`CheckResult` says itself; any other return
    value is a PERMANENT failure (a programming error that no retry fixes). An exception is
    classified through the error taxonomy (:mod:`montalaq.errors`): its code's kind, so
    ``TimeoutError``/``ConnectionError`` are TRANSIENT, ``RuntimeError`` (ANALYSIS_ERR) and
    anything unmapped (UNKNOWN) are PERMANENT, and an application's registered exceptions
    follow their registered code. Each call runs in a daemon thread joined with
    ``check_timeout_s`` [30 s]; a check still running then is a TRANSIENT failure with code
    INGESTION_TIMEOUT (the taxonomy's code for ``TimeoutError``) and its thread is
    abandoned. While an abandoned call is still running, that check is not called again (it
    fails TRANSIENT at once): a check that hangs forever costs one thread, not one per
    re-check.

Start-up (:meth:`Lifecycle.start`)
    Every check runs once, in order. A PERMANENT failure means ERROR at once (retrying
    cannot help). TRANSIENT failures are retried: up to ``retries`` [3] more rounds, round n
    waiting ``backoff_base_s * 2**(n-1)`` [30, 60, 120 s] first (``RetryPolicy.backoff_s``
    with jitter 0: one process, nothing to de-synchronise), each round calling only the
    checks still failing. All passing means ACTIVE (logged, not notified: a clean start
    pages nobody). Failures left after the last round mean WAITING: one notification on
    entry, then a re-check of *all* checks every ``recheck_interval_s`` [300 s] (no retry
    rounds there: the interval is the retry) and a "still waiting" status every
    ``status_interval_s`` [3600 s]; all passing means ACTIVE with one recovery notification,
    a PERMANENT failure means ERROR. ERROR sends one CRITICAL notification and then does
    nothing at all (no thread, no timer): the process stays up and idle, no crash loop, until
    an operator calls :meth:`Lifecycle.restart` (ERROR -> STARTING, checks again) or stops
    it. ``start()`` returns the state; it never raises and never exits the process.

    Notifications (through any object with the :class:`Notifier`'s ``notify``): kind
    ``state`` for every state change that is notified (WAITING: WARNING, ERROR: CRITICAL,
    recovery to ACTIVE: INFO, shutting down: INFO), kind ``status`` for "still waiting"
    (WARNING); ``fields`` carry ``state``, ``previous`` and the failing checks, and
    ``error_code`` the first failing check's code. A failing notifier is logged, never
    raised.

Persistence and logs
    Every state change is written with ``store.save_operational_state(state, reason,
    entered_at, details={"previous": ..., "failing": {name: {kind, detail, error_code}}})``
    (also when the set of failing checks changes while WAITING). Writes are ordered by a
    sequence number, so a late write never overwrites a newer state; a failed write is
    logged and retried at the next WAITING tick. Every change is logged on the
    ``montalaq.lifecycle`` logger with ``extra={"component": "lifecycle", "op_state": ...,
    "previous_state": ...}``.

Shutdown (:meth:`Lifecycle.shutdown`)
    Ordered steps, each with a budget: cancel_orders 2 s, close_positions 3 s, save_state
    1 s, final_notification 2 s, disconnect 1 s (docs/semantics.md, "Lifecycle"). The host
    supplies the callables (a mapping name -> callable for the default order and budgets, or a sequence of
    :class:`ShutdownStep` for its own); a step without one is skipped; a final_notification
    step without one sends "shutting down" through the notifier (and waits, within its
    budget, for the notifier to deliver it). Each step runs in its own daemon thread joined
    with ``min(its budget, what is left of shutdown_budget_s)`` [9 s]: a step that hangs is
    abandoned at that point (logged, counted as ``timed_out``), a step that raises is logged
    (``failed``) and the next one runs, a step for which nothing is left is ``skipped``. The
    state moves to SHUTDOWN first (re-checks stop, start-up back-off waits are cut short) and
    is persisted in a daemon thread running alongside the steps, so a hung database never
    eats a step's budget; the final report is persisted too when time is left. The whole
    never exceeds ``shutdown_budget_s``. ``shutdown()`` runs once: a later or concurrent
    call returns the first call's report.

Signals (:meth:`Lifecycle.install_signal_handlers`, main thread only)
    SIGTERM and SIGINT run the shutdown once, in the main thread (Python runs signal
    handlers there), then call ``on_exit(code)`` with 0 for SIGTERM and 130 for SIGINT. The
    default ``on_exit`` raises ``SystemExit(code)`` from the handler: it unwinds the main
    thread from wherever it was (``finally`` blocks and ``atexit`` hooks run) and the
    interpreter exits with that code, provided the host neither catches ``SystemExit`` nor
    keeps non-daemon threads running (the interpreter waits for those). Any later signal
    (during the shutdown, or after it when a custom ``on_exit`` did not exit) is logged and
    ignored: the shutdown is not restarted and the exit code stays the first signal's. If
    the host's own ``shutdown()`` call is running on the main thread when the signal comes,
    ``on_exit`` is called when that call finishes.

Thread safety: every public method may be called from any thread, except
``install_signal_handlers`` (main thread). The lock is re-entrant, so a signal arriving
while the main thread is inside the lifecycle cannot deadlock it. Times: ``clock`` is wall
time in seconds (``time.time``), used for recorded times and the re-check/status schedule
(a clock that steps backwards makes the next re-check due at once); shutdown budgets use
``time.monotonic``.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from montalaq._optional import needs
from montalaq._time import datetime_utc
from montalaq.errors import DEFAULT_TAXONOMY, ErrorCode, ErrorKind, ErrorTaxonomy
from montalaq.health import OperationalState, OpState
from montalaq.retry import RetryPolicy

if TYPE_CHECKING:
    from montalaq.settings import Settings
    from montalaq.store import Store

log = logging.getLogger("montalaq.lifecycle")

_COMPONENT = "lifecycle"
_NS_PER_S = 1_000_000_000

DEFAULT_SHUTDOWN_STEPS: tuple[tuple[str, float], ...] = (
    ("cancel_orders", 2.0),
    ("close_positions", 3.0),
    ("save_state", 1.0),
    ("final_notification", 2.0),
    ("disconnect", 1.0),
)
"""The shutdown steps (docs/semantics.md, "Lifecycle") in order, with their budgets in seconds."""

EXIT_CODES: Mapping[int, int] = MappingProxyType({int(signal.SIGTERM): 0, int(signal.SIGINT): 130})
"""Process exit code after the graceful shutdown started by each signal."""

StepOutcome = Literal["ok", "failed", "timed_out", "skipped"]

# The taxonomy's catch-alls (anything unmapped, any RuntimeError): at run time they say
# nothing about whether waiting helps.
_CATCH_ALL_CODES = frozenset({"UNKNOWN", "ANALYSIS_ERR"})


# ----------------------------------------------------------------------------- checks


def _code_name(code: object) -> str | None:
    if code is None:
        return None
    name = getattr(code, "name", code)
    if not isinstance(name, str) or not name:
        raise ValueError(f"error_code: expected an ErrorCode, a code name or None, got {code!r}")
    return name


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``ok``, or a failure of ``kind`` TRANSIENT/PERMANENT with a
    human-readable ``detail`` and optionally the taxonomy ``error_code`` (its name)."""

    ok: bool
    kind: ErrorKind | None = None
    detail: str = ""
    error_code: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ok, bool):
            raise TypeError(f"ok: expected a bool, got {type(self.ok).__name__}")
        if self.ok and self.kind is not None:
            raise ValueError("kind: a passing check has no failure kind")
        if not self.ok and not isinstance(self.kind, ErrorKind):
            raise ValueError(
                f"kind: a failing check needs ErrorKind.TRANSIENT or PERMANENT, got {self.kind!r}"
            )
        if not isinstance(self.detail, str):
            raise TypeError(f"detail: expected a str, got {type(self.detail).__name__}")
        object.__setattr__(self, "error_code", _code_name(self.error_code))

    @classmethod
    def passed(cls, detail: str = "") -> CheckResult:
        """A passing result."""
        return cls(True, None, detail)

    @classmethod
    def transient(cls, detail: str, error_code: ErrorCode | str | None = None) -> CheckResult:
        """A failure that may pass with time (retried, then WAITING)."""
        return cls(False, ErrorKind.TRANSIENT, detail, _code_name(error_code))

    @classmethod
    def permanent(cls, detail: str, error_code: ErrorCode | str | None = None) -> CheckResult:
        """A failure no retry fixes (ERROR)."""
        return cls(False, ErrorKind.PERMANENT, detail, _code_name(error_code))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what is persisted in ``operational_state.details``)."""
        return {
            "ok": self.ok,
            "kind": None if self.kind is None else self.kind.value,
            "detail": self.detail,
            "error_code": self.error_code,
        }


CheckFn = Callable[[], CheckResult | bool | None]


@dataclass(frozen=True)
class StartupCheck:
    """A named check: ``fn()`` returns a :class:`CheckResult`, True/None (pass) or False
    (TRANSIENT failure), or raises (classified through the error taxonomy)."""

    name: str
    fn: CheckFn

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"fn: check {self.name!r} needs a callable, got {type(self.fn).__name__}")


def _checks(checks: Iterable[StartupCheck] | Mapping[str, CheckFn]) -> tuple[StartupCheck, ...]:
    if isinstance(checks, Mapping):
        items = tuple(StartupCheck(name, fn) for name, fn in checks.items())
    else:
        items = tuple(checks)
        for c in items:
            if not isinstance(c, StartupCheck):
                raise TypeError(
                    "checks: expected StartupCheck items or a mapping name -> callable, "
                    f"got {type(c).__name__}"
                )
    names = [c.name for c in items]
    if len(set(names)) != len(names):
        raise ValueError(f"checks: names must be unique, got {names}")
    return items


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_exception(exc: BaseException, taxonomy: ErrorTaxonomy | None = None) -> CheckResult:
    """A failing :class:`CheckResult` for an exception a check raised: its taxonomy code and
    that code's kind (UNKNOWN, and a code the taxonomy does not know, are PERMANENT)."""
    tax = taxonomy if taxonomy is not None else DEFAULT_TAXONOMY
    code = tax.code_for(exc)
    try:
        kind = tax.kind_of(code)
    except ValueError:
        kind = ErrorKind.PERMANENT
    return CheckResult(False, kind, _describe(exc), _code_name(code))


def _normalise(value: object, name: str) -> CheckResult:
    if isinstance(value, CheckResult):
        return value
    if value is None or value is True:
        return CheckResult.passed()
    if value is False:
        return CheckResult.transient(f"check {name} returned False")
    return CheckResult.permanent(
        f"check {name} returned {type(value).__name__}; expected CheckResult, bool or None"
    )


_Outcome = Literal["returned", "raised", "timed_out"]


def _run_timeboxed(fn: Callable[[], object], timeout_s: float, thread_name: str) -> tuple[_Outcome, Any, Any]:
    """Call ``fn`` in a daemon thread joined for ``timeout_s`` seconds.

    Returns ("returned", value, thread), ("raised", exc, thread) or ("timed_out", None,
    thread); a timed-out thread is left running (abandoned). The caller's contextvars
    (correlation id) are visible inside ``fn``.
    """
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(fn)
        except BaseException as exc:  # reported to the caller, never lost in the thread
            box["exc"] = exc

    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()
    thread.join(max(0.0, timeout_s))
    if thread.is_alive():
        return "timed_out", None, thread
    if "exc" in box:
        return "raised", box["exc"], thread
    return "returned", box.get("value"), thread


class _CheckRunner:
    """Runs checks time-boxed, at most one call of each check in flight."""

    def __init__(self, timeout_s: float, taxonomy: ErrorTaxonomy) -> None:
        self.timeout_s = timeout_s
        self.taxonomy = taxonomy
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Thread] = {}
        self.abandoned = 0

    def run(self, check: StartupCheck) -> CheckResult:
        with self._lock:
            stuck = self._inflight.get(check.name)
            if stuck is not None and stuck.is_alive():
                return CheckResult.transient(
                    f"check {check.name} is still running from an earlier call (hung)",
                    ErrorCode.INGESTION_TIMEOUT,
                )
            self._inflight.pop(check.name, None)
        outcome, value, thread = _run_timeboxed(check.fn, self.timeout_s, f"montalaq-check-{check.name}")
        if outcome == "timed_out":
            with self._lock:
                self._inflight[check.name] = thread
                self.abandoned += 1
            log.warning(
                "check %s did not answer within %.3g s; counted as a transient failure",
                check.name,
                self.timeout_s,
                extra={"component": _COMPONENT, "check": check.name},
            )
            return CheckResult.transient(
                f"check {check.name} timed out after {self.timeout_s:.3g} s", ErrorCode.INGESTION_TIMEOUT
            )
        if outcome == "raised":
            return classify_exception(value, self.taxonomy)
        return _normalise(value, check.name)


def run_check(
    check: StartupCheck, *, timeout_s: float = 30.0, taxonomy: ErrorTaxonomy | None = None
) -> CheckResult:
    """Run one check once, time-boxed to ``timeout_s`` seconds, and classify its outcome as
    :class:`Lifecycle` does (for a ``health`` command or an endpoint)."""
    return _CheckRunner(_positive("timeout_s", timeout_s), taxonomy or DEFAULT_TAXONOMY).run(check)


# ----------------------------------------------------------------------------- built-in checks


def _database_check(store: Store) -> CheckFn:
    def database() -> CheckResult:
        from montalaq.store.migrate import SchemaOutOfDateError

        health = store.health()
        if not health.get("ok"):
            return CheckResult.transient(
                f"database unreachable: {health.get('error', 'no answer')}", ErrorCode.PROVIDER_DISCONNECTED
            )
        try:
            store.ensure_schema()
        except SchemaOutOfDateError as exc:
            return CheckResult.permanent(f"database schema out of date: {exc}")
        except Exception as exc:  # the database answered SELECT 1 a moment ago: let it settle
            return CheckResult.transient(f"database schema check failed: {_describe(exc)}")
        return CheckResult.passed("database reachable")

    return database


def _redis_check(url: str, timeout_s: float) -> CheckFn:
    def redis_check() -> CheckResult:
        with needs("the redis check (REDIS_URL)"):
            import redis
            from redis import exceptions as rex

        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            client.ping()
        except rex.AuthenticationError as exc:  # a ConnectionError subclass, but no wait fixes it
            return CheckResult.permanent(f"redis refused the credentials: {type(exc).__name__}")
        except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
            return CheckResult.transient(
                f"redis unreachable: {type(exc).__name__}", ErrorCode.PROVIDER_DISCONNECTED
            )
        except rex.ResponseError as exc:  # NOAUTH, WRONGPASS, a disabled command: configuration
            return CheckResult.permanent(f"redis answered with an error: {type(exc).__name__}")
        finally:
            client.close()
        return CheckResult.passed("redis answered PING")

    return redis_check


_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EINTR, errno.EBUSY})


def _alerts_dir_check(path: Path) -> CheckFn:
    def alerts_dir() -> CheckResult:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".montalaq-probe-", delete=True) as probe:
                probe.write(b"ok\n")
                probe.flush()
        except OSError as exc:
            # A full disk can be freed; no permission, a read-only file system or a file
            # where the directory should be need an operator.
            if exc.errno in _TRANSIENT_ERRNOS and not isinstance(exc, PermissionError):
                return CheckResult.transient(f"alerts directory {path} not writable: {_describe(exc)}")
            return CheckResult.permanent(f"alerts directory {path} not writable: {_describe(exc)}")
        return CheckResult.passed(f"{path} writable")

    return alerts_dir


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


def builtin_checks(
    settings: Settings,
    store: Store | None = None,
    *,
    base_dir: str | os.PathLike[str] = ".",
    redis_timeout_s: float = 2.0,
    alerts_dir: bool = True,
) -> list[StartupCheck]:
    """montalaq's own start-up checks.

    - ``database``: ``store.health()`` answers (TRANSIENT otherwise) and its schema is
      current (PERMANENT otherwise: run ``montalaq db upgrade``); only when a ``store`` is
      given (the host decides which database it uses and owns the Store).
    - ``redis``: when ``settings.guard_backend == "redis"``, ``PING`` on ``settings.redis_url``
      within ``redis_timeout_s`` seconds (connection error or timeout: TRANSIENT; refused
      credentials or an error reply: PERMANENT).
    - ``alerts_dir``: ``settings.alerts_dir`` (``ALERTS_DIR``, default ``logs/alerts``;
      relative paths resolve under ``base_dir``) can be created and written (no permission,
      read-only file system, not a directory: PERMANENT; disk full: TRANSIENT); left out
      with ``alerts_dir=False`` (a process that writes no alerts).
    """
    timeout_s = _positive("redis_timeout_s", redis_timeout_s)
    checks: list[StartupCheck] = []
    if store is not None:
        checks.append(StartupCheck("database", _database_check(store)))
    if settings.guard_backend == "redis":
        if not settings.redis_url:
            raise ValueError("REDIS_URL: required when GUARD_BACKEND=redis")
        checks.append(StartupCheck("redis", _redis_check(settings.redis_url, timeout_s)))
    if alerts_dir:
        checks.append(StartupCheck("alerts_dir", _alerts_dir_check(Path(base_dir) / settings.alerts_dir)))
    return checks


# ----------------------------------------------------------------------------- shutdown records


@dataclass(frozen=True)
class ShutdownStep:
    """One shutdown step: ``fn()`` (None: skipped, except the built-in final_notification)
    given at most ``budget_s`` seconds."""

    name: str
    fn: Callable[[], object] | None
    budget_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if self.fn is not None and not callable(self.fn):
            raise TypeError(f"fn: step {self.name!r} needs a callable or None, got {type(self.fn).__name__}")
        object.__setattr__(self, "budget_s", _positive(f"budget_s of step {self.name!r}", self.budget_s))


@dataclass(frozen=True)
class StepReport:
    """What one shutdown step did: ``outcome`` ok/failed/timed_out/skipped, ``elapsed_s``
    (seconds it ran, 0 when skipped), ``budget_s`` (seconds it was given: its budget or what
    was left, 0 when skipped) and ``error`` (why it failed, timed out or was skipped)."""

    name: str
    outcome: StepOutcome
    elapsed_s: float
    budget_s: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "elapsed_s": round(self.elapsed_s, 6),
            "budget_s": round(self.budget_s, 6),
            "error": self.error,
        }


@dataclass(frozen=True)
class ShutdownReport:
    """The shutdown: ``reason``, each step's :class:`StepReport` in order, ``elapsed_s`` and
    ``budget_s`` (seconds), ``complete`` (False only for a snapshot taken while it ran) and
    ``persisted`` (whether the SHUTDOWN state reached the store; True without a store)."""

    reason: str
    steps: tuple[StepReport, ...]
    elapsed_s: float
    budget_s: float
    started_at: datetime
    complete: bool = True
    persisted: bool = True

    @property
    def timed_out(self) -> int:
        """How many steps were abandoned at their budget."""
        return sum(1 for s in self.steps if s.outcome == "timed_out")

    @property
    def failed(self) -> int:
        """How many steps raised."""
        return sum(1 for s in self.steps if s.outcome == "failed")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (persisted in ``operational_state.details["shutdown"]``)."""
        return {
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
            "elapsed_s": round(self.elapsed_s, 6),
            "budget_s": self.budget_s,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "complete": self.complete,
            "persisted": self.persisted,
            "timed_out": self.timed_out,
            "failed": self.failed,
        }


# ----------------------------------------------------------------------------- plug-in points


class NotifierLike(Protocol):
    """What the lifecycle needs of a notifier (:class:`montalaq.notify.Notifier` fits)."""

    def notify(
        self,
        kind: str,
        title: str,
        text: str = "",
        *,
        severity: Any = ...,
        fields: Mapping[str, Any] | None = None,
        error_code: Any = None,
    ) -> object:
        """Queue one event."""
        ...


class StateStore(Protocol):
    """What the lifecycle needs of a store (:class:`montalaq.store.Store` fits)."""

    def save_operational_state(
        self,
        state: Any,
        reason: str = "",
        entered_at: Any = None,
        details: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Write the single operational_state row."""
        ...


# ----------------------------------------------------------------------------- helpers


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a finite number of seconds > 0, got {value!r}")
    return float(value)


def _steps(
    spec: Mapping[str, Callable[[], object] | None] | Sequence[ShutdownStep] | None,
) -> tuple[ShutdownStep, ...]:
    if spec is None:
        return tuple(ShutdownStep(name, None, budget) for name, budget in DEFAULT_SHUTDOWN_STEPS)
    if isinstance(spec, Mapping):
        known = [name for name, _ in DEFAULT_SHUTDOWN_STEPS]
        unknown = [k for k in spec if k not in known]
        if unknown:
            raise ValueError(
                f"shutdown_steps: unknown step(s) {unknown}; the default steps are {known} "
                "(pass a sequence of ShutdownStep for other steps or budgets)"
            )
        return tuple(ShutdownStep(name, spec.get(name), budget) for name, budget in DEFAULT_SHUTDOWN_STEPS)
    steps = tuple(spec)
    for s in steps:
        if not isinstance(s, ShutdownStep):
            raise TypeError(
                "shutdown_steps: expected a mapping name -> callable or a sequence of ShutdownStep, "
                f"got an item of type {type(s).__name__}"
            )
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"shutdown_steps: names must be unique, got {names}")
    return steps


def _failing_details(results: Mapping[str, CheckResult]) -> dict[str, dict[str, Any]]:
    return {
        name: {"kind": r.kind.value if r.kind else None, "detail": r.detail, "error_code": r.error_code}
        for name, r in results.items()
        if not r.ok
    }


def _summary(results: Mapping[str, CheckResult]) -> str:
    return "; ".join(
        f"{name}: {r.detail or (r.kind.value if r.kind else 'failed')}" for name, r in results.items()
    )


def _first_code(results: Mapping[str, CheckResult]) -> str | None:
    return next((r.error_code for r in results.values() if r.error_code), None)


def _duration(seconds: float) -> str:
    """Seconds for a notification title: "0.25 s", "42 s", "5 min 03 s", "2 h 05 min"."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _due(last: float, interval_s: float, now: float) -> bool:
    return now - last >= interval_s or now < last  # a clock stepping back: due at once


@dataclass
class _Snapshot:
    seq: int
    state: OpState
    reason: str
    entered_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the lifecycle


class Lifecycle:
    """Start-up checks, the operational state, and the graceful shutdown (see module doc).

    Arguments (times in seconds): ``checks`` (StartupCheck items or a mapping name ->
    callable), ``store`` (persists the state), ``notifier``, ``retries`` [3] extra rounds for
    transient start-up failures, ``backoff_base_s`` [30] (round n waits ``base * 2**(n-1)``),
    ``recheck_interval_s`` [300], ``status_interval_s`` [3600], ``check_timeout_s`` [30],
    ``shutdown_steps`` (mapping or ShutdownStep sequence), ``shutdown_budget_s`` [9],
    ``taxonomy`` (classifies exceptions; default the process-wide one), ``clock`` (wall
    seconds), ``sleep`` (the wait between retries and ticks; default: a wait that shutdown
    interrupts), ``name`` (shown in notification titles).
    """

    def __init__(
        self,
        checks: Iterable[StartupCheck] | Mapping[str, CheckFn] = (),
        *,
        store: StateStore | None = None,
        notifier: NotifierLike | None = None,
        retries: int = 3,
        backoff_base_s: float = 30.0,
        recheck_interval_s: float = 300.0,
        status_interval_s: float = 3600.0,
        check_timeout_s: float = 30.0,
        shutdown_steps: Mapping[str, Callable[[], object] | None] | Sequence[ShutdownStep] | None = None,
        shutdown_budget_s: float = 9.0,
        taxonomy: ErrorTaxonomy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
        name: str = "montalaq",
        runtime_failure_cycles: int = 3,
        runtime_failure_min_s: float = 10.0,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValueError(f"retries: expected an integer in [0, 100], got {retries!r}")
        if (
            isinstance(backoff_base_s, bool)
            or not isinstance(backoff_base_s, int | float)
            or not (math.isfinite(backoff_base_s) and backoff_base_s >= 0)
        ):
            raise ValueError(
                f"backoff_base_s: expected a finite number of seconds >= 0, got {backoff_base_s!r}"
            )
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name: expected a non-empty string, got {name!r}")
        if (
            isinstance(runtime_failure_cycles, bool)
            or not isinstance(runtime_failure_cycles, int)
            or runtime_failure_cycles < 1
        ):
            raise ValueError(
                f"runtime_failure_cycles: expected an integer >= 1, got {runtime_failure_cycles!r}"
            )
        if (
            isinstance(runtime_failure_min_s, bool)
            or not isinstance(runtime_failure_min_s, int | float)
            or not (math.isfinite(runtime_failure_min_s) and runtime_failure_min_s >= 0)
        ):
            raise ValueError(
                "runtime_failure_min_s: expected a finite number of seconds >= 0, "
                f"got {runtime_failure_min_s!r}"
            )
        self.name = name
        self.runtime_failure_cycles = runtime_failure_cycles
        self.runtime_failure_min_s = float(runtime_failure_min_s)
        # Run-time dependency streaks: name -> (consecutive failures, first failure at, last result).
        self._runtime: dict[str, tuple[int, float, CheckResult]] = {}
        self.checks = _checks(checks)
        self.retries = retries
        self.backoff_base_s = float(backoff_base_s)
        self.recheck_interval_s = _positive("recheck_interval_s", recheck_interval_s)
        self.status_interval_s = _positive("status_interval_s", status_interval_s)
        self.check_timeout_s = _positive("check_timeout_s", check_timeout_s)
        self.shutdown_budget_s = _positive("shutdown_budget_s", shutdown_budget_s)
        self.steps = _steps(shutdown_steps)
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._stop = threading.Event()
        self._sleep: Callable[[float], object] = sleep if sleep is not None else self._stop.wait
        # Jitter 0: one process waits for its own dependencies, nothing to de-synchronise.
        self._policy = RetryPolicy(
            max_attempts=retries + 1,
            base_s=self.backoff_base_s,
            jitter=0.0,
            max_delay_s=self.backoff_base_s * 2.0 ** max(retries - 1, 0),
        )
        self._runner = _CheckRunner(self.check_timeout_s, taxonomy or DEFAULT_TAXONOMY)

        self._lock = threading.RLock()  # re-entrant: a signal handler may run inside it
        self._changed = threading.Condition(self._lock)
        self._op = OperationalState(self._now_ns(), "created")
        self._results: dict[str, CheckResult] = {}
        self._failing: dict[str, CheckResult] = {}
        self._seq = 0
        self._latest: _Snapshot | None = None
        self._persist_lock = threading.Lock()
        self._persisted_seq = 0
        self._start_lock = threading.Lock()
        self._started = False
        self._background = True
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()
        self._last_recheck_at = 0.0
        self._last_status_at = 0.0
        self._waiting_since = 0.0

        self._shutdown_owner: int | None = None
        self._shutdown_done = threading.Event()
        self._shutdown_reason = ""
        self._shutdown_started_at = datetime_utc(0)
        self._shutdown_t0 = 0.0
        self._step_reports: list[StepReport] = []
        self._step_deadline = 0.0
        self._report: ShutdownReport | None = None
        self._exit_code: int | None = None
        self._pending_exit: int | None = None
        self._on_exit: Callable[[int], object] = _raise_system_exit
        self._previous_handlers: dict[int, Any] = {}

    def __repr__(self) -> str:
        return (
            f"Lifecycle(name={self.name!r}, state={self.state.name}, checks={[c.name for c in self.checks]})"
        )

    # -- reading ---------------------------------------------------------------------------
    # OpState is a pybind11 enum: each read makes a new object, so states compare with ==.
    @property
    def state(self) -> OpState:
        """The current operational state."""
        with self._lock:
            return self._op.state

    @property
    def reason(self) -> str:
        """Why the current state was entered."""
        with self._lock:
            return self._op.reason

    @property
    def entered_at(self) -> datetime:
        """Aware UTC datetime at which the current state was entered."""
        with self._lock:
            return datetime_utc(self._op.entered_at_ns)

    def history(self) -> list[dict[str, Any]]:
        """The state changes so far (oldest first, at most the last 100): ``{at (aware UTC
        datetime), at_ns, from, to, reason}``."""
        with self._lock:
            raw = self._op.history()
        return [{"at": datetime_utc(h["at_ns"]), **h} for h in raw]

    def results(self) -> dict[str, CheckResult]:
        """The last result of each check that has run."""
        with self._lock:
            return dict(self._results)

    def failing(self) -> dict[str, CheckResult]:
        """The checks that made the current state (empty when ACTIVE)."""
        with self._lock:
            return dict(self._failing)

    @property
    def abandoned_checks(self) -> int:
        """How many check calls were abandoned at ``check_timeout_s``."""
        return self._runner.abandoned

    @property
    def shutdown_report(self) -> ShutdownReport | None:
        """The shutdown's report once it finished, else None."""
        with self._lock:
            return self._report

    def wait_until_active(self, timeout_s: float | None = None) -> bool:
        """Block until ACTIVE (True) or ``timeout_s`` seconds passed (False; None: no limit).
        Returns False at once in ERROR or SHUTDOWN: neither becomes ACTIVE by itself."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while True:
                current = self._op.state
                if current == OpState.ACTIVE:
                    return True
                if current in (OpState.ERROR, OpState.SHUTDOWN):
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)

    def wait_for_shutdown(self, timeout_s: float | None = None) -> bool:
        """Block until the shutdown finished (True) or ``timeout_s`` seconds passed (False;
        None: no limit). Signal handlers still run while the main thread waits here."""
        return self._shutdown_done.wait(timeout_s)

    # -- internals: time, state, persistence, notifications --------------------------------
    def _now_ns(self) -> int:
        return round(self._clock() * _NS_PER_S)

    def _snapshot_locked(self, details: Mapping[str, Any]) -> _Snapshot:
        self._seq += 1
        snap = _Snapshot(
            self._seq, self._op.state, self._op.reason, datetime_utc(self._op.entered_at_ns), dict(details)
        )
        self._latest = snap
        return snap

    def _transition(self, to: OpState, reason: str, failing: Mapping[str, CheckResult]) -> OpState | None:
        """Move to ``to``; returns the previous state, or None when nothing changed (already
        there, or shutting down)."""
        with self._lock:
            previous = self._op.state
            if previous == to or (self._shutdown_owner is not None and to != OpState.SHUTDOWN):
                return None
            self._op.move(to, reason, self._now_ns())
            self._failing = {n: r for n, r in failing.items() if not r.ok}
            snap = self._snapshot_locked(
                {"previous": previous.name, "failing": _failing_details(self._failing)}
            )
            self._changed.notify_all()
        level = (
            logging.ERROR
            if to == OpState.ERROR
            else logging.WARNING
            if to == OpState.WAITING
            else logging.INFO
        )
        log.log(
            level,
            "operational state %s -> %s: %s",
            previous.name,
            to.name,
            reason,
            extra={"component": _COMPONENT, "op_state": to.name, "previous_state": previous.name},
        )
        self._persist(snap)
        return previous

    def _persist(self, snap: _Snapshot, lock_timeout_s: float | None = None) -> bool:
        """Write ``snap`` unless a newer one was written; False when it could not be."""
        if self._store is None:
            return True
        if not self._persist_lock.acquire(timeout=-1 if lock_timeout_s is None else max(lock_timeout_s, 0.0)):
            return False
        try:
            if snap.seq <= self._persisted_seq:
                return True
            self._store.save_operational_state(
                snap.state,
                snap.reason,
                snap.entered_at,
                details=snap.details,
                now=datetime_utc(self._now_ns()),
            )
            self._persisted_seq = snap.seq
            return True
        except Exception as exc:
            log.warning(
                "could not persist operational state %s: %s",
                snap.state.name,
                _describe(exc),
                extra={"component": _COMPONENT, "op_state": snap.state.name},
            )
            return False
        finally:
            self._persist_lock.release()

    def _notify(
        self, kind: str, title: str, text: str, severity: str, fields: Mapping[str, Any], code: str | None
    ) -> None:
        if self._notifier is None:
            return
        try:
            self._notifier.notify(kind, title, text, severity=severity, fields=fields, error_code=code)
        except Exception as exc:  # a notification never breaks the lifecycle
            log.error(
                "notification %r failed: %s",
                title,
                _describe(exc),
                extra={"component": _COMPONENT},
            )

    # -- start-up --------------------------------------------------------------------------
    def start(self, *, background: bool = True) -> OpState:
        """Run the start-up checks (with retries) and return the state reached: ACTIVE,
        WAITING or ERROR (SHUTDOWN if a shutdown cut it short). Never raises, never exits.

        ``background=False``: no re-check thread is started for WAITING; call :meth:`tick`
        yourself (a host with its own scheduler, or a test). A second call returns the
        current state without running anything.
        """
        with self._start_lock:
            if self._started:
                return self.state
            self._started = True
            self._background = background
        return self._startup()

    def restart(self, reason: str = "operator restart") -> OpState:
        """Operator action: ERROR -> STARTING, then the start-up checks again (as
        :meth:`start`). ValueError from any other state."""
        with self._lock:
            if self._op.state != OpState.ERROR:
                raise ValueError(f"restart: only from ERROR, the state is {self._op.state.name}")
        if self._transition(OpState.STARTING, reason, {}) is None:
            return self.state
        with self._lock:
            self._runtime.clear()
        return self._startup()

    def assume_active(self, reason: str = "driven by its host, no start-up checks") -> OpState:
        """Mark a lifecycle that nobody started as ACTIVE without running checks (a service
        its host steps itself); a started one is left alone. Returns the state."""
        with self._start_lock:
            if self._started:
                return self.state
            self._started = True
            self._background = False
        self._transition(OpState.ACTIVE, reason, {})
        return self.state

    # -- run time --------------------------------------------------------------------------
    def report(self, name: str, outcome: CheckResult | BaseException | None = None) -> OpState:
        """A run-time observation of dependency ``name`` (``database``, ``provider:<name>``,
        ``channel:<name>``) by the process's own cycle: None or a passing result means it
        worked; an exception (classified as a check's would be) or a failing result means
        it failed. ACTIVE moves to ERROR at once on a PERMANENT failure, and to WAITING when
        the dependency failed in ``runtime_failure_cycles`` consecutive reports spanning at
        least ``runtime_failure_min_s`` seconds (one notification). In WAITING, a pass that
        leaves nothing failing moves back to ACTIVE (one recovery notification). Reports in
        other states only keep the streaks. Never raises for an observation; returns the
        state after it."""
        if isinstance(outcome, CheckResult):
            result = outcome
        elif isinstance(outcome, BaseException):
            result = classify_exception(outcome, self._runner.taxonomy)
            if result.error_code in _CATCH_ALL_CODES:
                # Something that worked before raised an unclassified error: waiting may
                # help, so it counts as transient. Only a code registered PERMANENT (rejected
                # credentials, say) stops the process at run time.
                result = CheckResult.transient(result.detail, result.error_code)
        elif outcome is None:
            result = CheckResult.passed()
        else:
            raise TypeError(
                f"outcome: expected None, a CheckResult or an exception, got {type(outcome).__name__}"
            )
        now = self._clock()
        action: Callable[[], object] | None = None
        with self._lock:
            state = self._op.state
            if result.ok:
                if self._runtime.pop(name, None) is None and name not in self._failing:
                    return state
                if state == OpState.WAITING and name in self._failing:
                    left = {n: r for n, r in self._failing.items() if n != name}
                    if not left:
                        action = lambda: self._recovered(f"{name} works again")  # noqa: E731
                    else:
                        self._failing = left
                        snap = self._snapshot_locked(
                            {"previous": "WAITING", "failing": _failing_details(left)}
                        )
                        action = lambda: self._persist(snap)  # noqa: E731
            else:
                count, first, _ = self._runtime.get(name, (0, now, result))
                count += 1
                self._runtime[name] = (count, first, result)
                failing = {n: r for n, (_, _, r) in self._runtime.items()}
                if state in (OpState.ACTIVE, OpState.WAITING) and result.kind is ErrorKind.PERMANENT:
                    action = lambda: self._enter_error({name: result}, "run time")  # noqa: E731
                elif state == OpState.ACTIVE:
                    if count >= self.runtime_failure_cycles and now - first >= self.runtime_failure_min_s:
                        reason = (
                            f"{name} failing for {count} cycles ({_duration(now - first)}): {result.detail}"
                        )
                        action = lambda: self._enter_waiting(failing, reason)  # noqa: E731
                elif state == OpState.WAITING and name not in self._failing:
                    merged = {**self._failing, name: result}
                    self._failing = merged
                    snap = self._snapshot_locked({"previous": "WAITING", "failing": _failing_details(merged)})
                    action = lambda: self._persist(snap)  # noqa: E731
        if action is not None:
            action()
        return self.state

    def runtime_failing(self) -> dict[str, CheckResult]:
        """Dependencies whose latest run-time report was a failure (last result each)."""
        with self._lock:
            return {n: r for n, (_, _, r) in self._runtime.items()}

    def _recovered(self, detail: str) -> None:
        waited_s = self._clock() - self._waiting_since
        previous = self._transition(OpState.ACTIVE, f"{detail} after {_duration(waited_s)}", {})
        if previous is not None:
            self._notify(
                "state",
                f"{self.name} ACTIVE: recovered after {_duration(waited_s)}",
                f"{detail}.",
                "INFO",
                {"state": "ACTIVE", "previous": previous.name, "waited_s": round(waited_s, 3)},
                None,
            )

    def _run_checks(self, checks: Iterable[StartupCheck]) -> dict[str, CheckResult]:
        results: dict[str, CheckResult] = {}
        for check in checks:
            if self._stop.is_set():
                break
            result = self._runner.run(check)
            results[check.name] = result
            if not result.ok:
                log.info(
                    "check %s failed (%s): %s",
                    check.name,
                    result.kind.value if result.kind else "?",
                    result.detail,
                    extra={"component": _COMPONENT, "check": check.name, "error_code": result.error_code},
                )
        with self._lock:
            self._results.update(results)
        return results

    def _startup(self) -> OpState:
        try:
            results = self._run_checks(self.checks)
            attempt = 0
            while not self._stop.is_set():
                permanent = {n: r for n, r in results.items() if r.kind is ErrorKind.PERMANENT}
                if permanent:
                    self._enter_error(permanent, "start-up")
                    break
                failing = {n: r for n, r in results.items() if not r.ok}
                if not failing:
                    self._transition(OpState.ACTIVE, "all start-up checks passed", {})
                    break
                if attempt >= self.retries:
                    self._enter_waiting(failing)
                    break
                attempt += 1
                wait_s = self._policy.backoff_s(attempt)
                log.info(
                    "start-up checks failing (%s); retry %d/%d in %.3g s",
                    ", ".join(failing),
                    attempt,
                    self.retries,
                    wait_s,
                    extra={"component": _COMPONENT},
                )
                self._sleep(wait_s)
                if self._stop.is_set():
                    break
                checks = [c for c in self.checks if c.name in failing]
                results.update(self._run_checks(checks))
        except Exception as exc:  # a bug here must not kill the host: idle in ERROR instead
            log.exception("start-up failed unexpectedly", extra={"component": _COMPONENT})
            self._enter_error({"lifecycle": CheckResult.permanent(_describe(exc))}, "start-up")
        return self.state

    def _enter_error(self, permanent: Mapping[str, CheckResult], when: str) -> None:
        names = ", ".join(permanent)
        reason = f"permanent failure in {when}: {_summary(permanent)}"
        previous = self._transition(OpState.ERROR, reason, permanent)
        if previous is None:
            return
        self._notify(
            "state",
            f"{self.name} ERROR: check {names} failed permanently",
            f"{_summary(permanent)}. The process stays up and idle until an operator acts.",
            "CRITICAL",
            {"state": "ERROR", "previous": previous.name, "failing": _failing_details(permanent)},
            _first_code(permanent),
        )

    def _enter_waiting(self, failing: Mapping[str, CheckResult], reason: str | None = None) -> None:
        if reason is None:
            reason = f"transient failure persisting after {self.retries} retries: {_summary(failing)}"
        previous = self._transition(OpState.WAITING, reason, failing)
        if previous is None:
            return
        now = self._clock()
        with self._lock:
            self._last_recheck_at = self._last_status_at = self._waiting_since = now
        self._notify(
            "state",
            f"{self.name} WAITING: {', '.join(failing)} failing",
            f"{_summary(failing)}. Re-checking every {self.recheck_interval_s:g} s.",
            "WARNING",
            {"state": "WAITING", "previous": previous.name, "failing": _failing_details(failing)},
            _first_code(failing),
        )
        if self._background:
            with self._lock:
                running = self._thread is not None and self._thread.is_alive()
                if not running:
                    thread = threading.Thread(
                        target=self._background_loop, name="montalaq-lifecycle", daemon=True
                    )
                    self._thread = thread
            if not running:
                thread.start()

    # -- WAITING: re-checks and status ----------------------------------------------------
    def tick(self) -> float | None:
        """One pass of the WAITING duties: the re-check when ``recheck_interval_s`` passed,
        the "still waiting" status when ``status_interval_s`` passed, a retry of a failed
        persistence. Returns seconds until the next duty is due, or None when not WAITING.
        The background thread calls this; hosts that drive it themselves may too."""
        with self._tick_lock:
            if self.state != OpState.WAITING or self._stop.is_set():
                return None
            self._retry_persist()
            if _due(self._last_recheck_at, self.recheck_interval_s, self._clock()):
                self._recheck()
                self._last_recheck_at = self._clock()
                if self.state != OpState.WAITING:
                    return None
            now = self._clock()
            if _due(self._last_status_at, self.status_interval_s, now):
                self._last_status_at = now
                self._status(now)
            now = self._clock()
            next_recheck = self._last_recheck_at + self.recheck_interval_s - now
            next_status = self._last_status_at + self.status_interval_s - now
            return max(0.0, min(next_recheck, next_status))

    def _retry_persist(self) -> None:
        with self._lock:
            latest = self._latest
        if latest is not None and latest.seq > self._persisted_seq:
            self._persist(latest)

    def _recheck(self) -> None:
        results = self._run_checks(self.checks)
        if self._stop.is_set():
            return
        permanent = {n: r for n, r in results.items() if r.kind is ErrorKind.PERMANENT}
        if permanent:
            self._enter_error(permanent, "WAITING re-check")
            return
        failing = {n: r for n, r in results.items() if not r.ok}
        with self._lock:
            # A passing check clears what the cycle saw of the same dependency ("database");
            # a dependency no check covers (a provider) stays failing until the cycle sees
            # it work.
            for n, r in results.items():
                if r.ok:
                    self._runtime.pop(n, None)
        failing.update(self.runtime_failing())
        if not failing:
            self._recovered("every start-up check passes again")
            return
        with self._lock:
            if self._op.state != OpState.WAITING or set(failing) == set(self._failing):
                self._failing = dict(failing)
                return
            self._failing = dict(failing)
            snap = self._snapshot_locked({"previous": "WAITING", "failing": _failing_details(failing)})
        log.info(
            "still WAITING; failing checks now: %s",
            ", ".join(failing),
            extra={"component": _COMPONENT, "op_state": "WAITING"},
        )
        self._persist(snap)

    def _status(self, now: float) -> None:
        failing = self.failing()
        waited_s = now - self._waiting_since
        log.warning(
            "still WAITING after %s: %s",
            _duration(waited_s),
            _summary(failing),
            extra={"component": _COMPONENT, "op_state": "WAITING"},
        )
        self._notify(
            "status",
            f"{self.name} still waiting ({_duration(waited_s)}): {', '.join(failing)} failing",
            f"{_summary(failing)}. Re-checking every {self.recheck_interval_s:g} s.",
            "WARNING",
            {"state": "WAITING", "waiting_s": round(waited_s, 3), "failing": _failing_details(failing)},
            _first_code(failing),
        )

    def _background_loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay_s = self.tick()
            except Exception:  # never let the re-check thread die silently
                log.exception("WAITING tick failed", extra={"component": _COMPONENT})
                delay_s = self.recheck_interval_s
            if delay_s is None:
                return
            self._sleep(max(delay_s, 0.001))

    # -- shutdown --------------------------------------------------------------------------
    def shutdown(self, reason: str = "shutdown requested") -> ShutdownReport:
        """Run the shutdown steps once (see module doc) and return the report. A later call
        returns the first report; a concurrent one waits for it (at most the budget + 1 s);
        a re-entrant one (from inside the running shutdown's thread) gets a snapshot."""
        with self._lock:
            owner = self._shutdown_owner
            if owner is None:
                self._shutdown_owner = threading.get_ident()
                self._shutdown_reason = str(reason)
                self._shutdown_t0 = time.monotonic()
                self._shutdown_started_at = datetime_utc(self._now_ns())
                self._stop.set()
                previous = self._op.state
                if previous != OpState.SHUTDOWN:
                    self._op.move(OpState.SHUTDOWN, self._shutdown_reason, self._now_ns())
                snap = self._snapshot_locked(
                    {"previous": previous.name, "failing": {}, "steps": [s.name for s in self.steps]}
                )
                self._changed.notify_all()
        if owner is not None:
            if owner != threading.get_ident():
                self._shutdown_done.wait(self.shutdown_budget_s + 1.0)
            return self._report_now()
        log.warning(
            "operational state %s -> SHUTDOWN: %s",
            previous.name,
            self._shutdown_reason,
            extra={"component": _COMPONENT, "op_state": "SHUTDOWN", "previous_state": previous.name},
        )
        deadline = self._shutdown_t0 + self.shutdown_budget_s
        # Persist alongside the steps: a hung database must not eat a step's budget.
        persist_thread = threading.Thread(
            target=self._persist, args=(snap, self.shutdown_budget_s), name="montalaq-persist", daemon=True
        )
        persist_thread.start()
        for step in self.steps:
            self._run_step(step, deadline)
        persist_thread.join(max(0.0, deadline - time.monotonic()))
        persisted = self._store is None or self._persisted_seq >= snap.seq
        with self._lock:
            report = self._build_report(complete=True, persisted=persisted)
            final = self._snapshot_locked(
                {"previous": previous.name, "failing": {}, "shutdown": report.to_dict()}
            )
        left_s = deadline - time.monotonic()
        # The SHUTDOWN write failed already (the database is down): the report would fail
        # too, and trying again would only spend the budget an orchestrator is counting.
        write_failed = not persisted and not persist_thread.is_alive()
        if self._store is not None and left_s > 0 and not write_failed:
            outcome, value, _ = _run_timeboxed(
                lambda: self._persist(final, left_s), left_s, "montalaq-persist"
            )
            persisted = persisted or (outcome == "returned" and value is True)
        with self._lock:
            report = self._build_report(complete=True, persisted=persisted)
            self._report = report
        log.warning(
            "shutdown done in %.3f s (%d step(s) timed out, %d failed)",
            report.elapsed_s,
            report.timed_out,
            report.failed,
            extra={"component": _COMPONENT, "op_state": "SHUTDOWN", "shutdown": report.to_dict()},
        )
        self._shutdown_done.set()
        pending, self._pending_exit = self._pending_exit, None
        if pending is not None:
            self._on_exit(pending)
        return report

    def _run_step(self, step: ShutdownStep, deadline: float) -> None:
        fn = step.fn
        if fn is None and step.name == "final_notification" and self._notifier is not None:
            fn = self._final_notification
        left_s = deadline - time.monotonic()
        if fn is None:
            self._add_step(StepReport(step.name, "skipped", 0.0, 0.0, "no callable supplied"))
            return
        if left_s <= 0:
            self._add_step(StepReport(step.name, "skipped", 0.0, 0.0, "no shutdown budget left"))
            log.warning(
                "shutdown step %s skipped: no budget left", step.name, extra={"component": _COMPONENT}
            )
            return
        granted_s = min(step.budget_s, left_s)
        t0 = time.monotonic()
        self._step_deadline = t0 + granted_s
        outcome, value, _ = _run_timeboxed(fn, granted_s, f"montalaq-shutdown-{step.name}")
        elapsed_s = time.monotonic() - t0
        if outcome == "timed_out":
            report = StepReport(
                step.name, "timed_out", elapsed_s, granted_s, f"abandoned after {granted_s:.3g} s"
            )
            log.error(
                "shutdown step %s did not finish within %.3g s; abandoned",
                step.name,
                granted_s,
                extra={"component": _COMPONENT, "step": step.name},
            )
        elif outcome == "raised":
            report = StepReport(step.name, "failed", elapsed_s, granted_s, _describe(value))
            log.error(
                "shutdown step %s failed: %s",
                step.name,
                _describe(value),
                exc_info=value,
                extra={"component": _COMPONENT, "step": step.name},
            )
        else:
            report = StepReport(step.name, "ok", elapsed_s, granted_s)
            log.info(
                "shutdown step %s done in %.3f s",
                step.name,
                elapsed_s,
                extra={"component": _COMPONENT, "step": step.name},
            )
        self._add_step(report)

    def _add_step(self, report: StepReport) -> None:
        with self._lock:
            self._step_reports.append(report)

    def _build_report(self, *, complete: bool, persisted: bool) -> ShutdownReport:
        return ShutdownReport(
            reason=self._shutdown_reason,
            steps=tuple(self._step_reports),
            elapsed_s=time.monotonic() - self._shutdown_t0,
            budget_s=self.shutdown_budget_s,
            started_at=self._shutdown_started_at,
            complete=complete,
            persisted=persisted,
        )

    def _report_now(self) -> ShutdownReport:
        with self._lock:
            if self._report is not None:
                return self._report
            return self._build_report(complete=False, persisted=False)

    def _final_notification(self) -> None:
        assert self._notifier is not None
        with self._lock:
            steps = {s.name: s.outcome for s in self._step_reports}
        self._notifier.notify(
            "state",
            f"{self.name} shutting down",
            f"Reason: {self._shutdown_reason}.",
            severity="INFO",
            fields={"state": "SHUTDOWN", "reason": self._shutdown_reason, "steps": steps},
            error_code=None,
        )
        # The event is durable in the outbox already; give the worker what is left of
        # this step's budget to deliver it before the process goes.
        wait_idle = getattr(self._notifier, "wait_idle", None)
        if callable(wait_idle) and not wait_idle(
            timeout_s=max(0.0, self._step_deadline - time.monotonic() - 0.05)
        ):
            log.warning(
                "final notification queued in the outbox but not delivered before the step's budget",
                extra={"component": _COMPONENT},
            )

    # -- signals ---------------------------------------------------------------------------
    def install_signal_handlers(self, *, on_exit: Callable[[int], object] | None = None) -> None:
        """Make SIGTERM and SIGINT run :meth:`shutdown` once, then ``on_exit(code)`` (0 for
        SIGTERM, 130 for SIGINT; default: raise ``SystemExit(code)`` in the main thread).
        ValueError off the main thread (Python delivers signals only there)."""
        if threading.current_thread() is not threading.main_thread():
            raise ValueError(
                "install_signal_handlers: call it from the main thread (Python runs signal handlers there)"
            )
        if on_exit is not None and not callable(on_exit):
            raise TypeError(
                f"on_exit: expected a callable taking the exit code, got {type(on_exit).__name__}"
            )
        self._on_exit = on_exit if on_exit is not None else _raise_system_exit
        for signum in EXIT_CODES:
            previous = signal.signal(signum, self._handle_signal)
            self._previous_handlers.setdefault(signum, previous)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that :meth:`install_signal_handlers` replaced (main thread)."""
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("restore_signal_handlers: call it from the main thread")
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        code = EXIT_CODES.get(signum, 0)
        with self._lock:
            first = self._exit_code is None
            if first:
                self._exit_code = code
            running_here = self._shutdown_owner == threading.get_ident() and not self._shutdown_done.is_set()
            if first and running_here:
                # The host's own shutdown() is running on this thread: exit once it is done.
                self._pending_exit = code
        if not first:
            log.warning(
                "%s received while shutting down: ignored (the shutdown runs once)",
                name,
                extra={"component": _COMPONENT, "signal": name},
            )
            return
        if running_here:
            return
        log.warning(
            "%s received: graceful shutdown, then exit %d",
            name,
            code,
            extra={"component": _COMPONENT, "signal": name},
        )
        self.shutdown(f"signal {name}")
        self._on_exit(code)


def _raise_system_exit(code: int) -> None:
    raise SystemExit(code)


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
