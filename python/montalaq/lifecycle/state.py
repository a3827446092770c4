"""The operational state as the lifecycle records it: the state machine, the checks that
made the state, the run-time streaks, and each change logged and persisted in order
(docs/semantics.md, section Lifecycle, "Persistence and logs")."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from montalaq._time import datetime_utc
from montalaq.health import OperationalState, OpState
from montalaq.lifecycle._log import COMPONENT, log
from montalaq.lifecycle.checks import CheckResult, describe, failing_details
from montalaq.lifecycle.protocols import StateStore

_NS_PER_S = 1_000_000_000

Streak = tuple[int, float, CheckResult]
"""A dependency's run-time failures: (consecutive failures, first failure at, last result)."""


@dataclass
class Snapshot:
    """One state change as it is written: ``seq`` orders the writes."""

    seq: int
    state: OpState
    reason: str
    entered_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


class StateRecord:
    """The state and what goes with it, behind one re-entrant lock (a signal handler may run
    inside it). Writes are ordered by ``Snapshot.seq``: a late write never overwrites a newer
    state; a failed one is retried by :meth:`retry_persist`."""

    def __init__(self, store: StateStore | None, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock
        self.op = OperationalState(self.now_ns(), "created")
        self.results: dict[str, CheckResult] = {}
        """The last result of each check that has run."""
        self.failing: dict[str, CheckResult] = {}
        """The checks (and run-time dependencies) that made the current state."""
        self.runtime: dict[str, Streak] = {}
        """Run-time dependency streaks by name."""
        self.closed = False
        """Shutdown began: no state but SHUTDOWN is entered any more."""
        self.store = store
        self._seq = 0
        self._latest: Snapshot | None = None
        self._persist_lock = threading.Lock()
        self._persisted_seq = 0

    # OpState is a pybind11 enum: each read makes a new object, so states compare with ==.
    @property
    def state(self) -> OpState:
        """The current operational state."""
        with self.lock:
            return self.op.state

    def now_ns(self) -> int:
        """The lifecycle's clock in ns."""
        return round(self.clock() * _NS_PER_S)

    def failing_now(self) -> dict[str, CheckResult]:
        """A copy of :attr:`failing`."""
        with self.lock:
            return dict(self.failing)

    def runtime_failing(self) -> dict[str, CheckResult]:
        """Dependencies whose latest run-time report was a failure (last result each)."""
        with self.lock:
            return {n: r for n, (_, _, r) in self.runtime.items()}

    def snapshot_locked(self, details: Mapping[str, Any]) -> Snapshot:
        """The current state with ``details`` as the next write (caller holds the lock)."""
        self._seq += 1
        snap = Snapshot(
            self._seq, self.op.state, self.op.reason, datetime_utc(self.op.entered_at_ns), dict(details)
        )
        self._latest = snap
        return snap

    def refail_locked(self, failing: Mapping[str, CheckResult]) -> Snapshot:
        """WAITING goes on with another set of failing dependencies: record it and return
        the write that says so (caller holds the lock and persists outside it)."""
        self.failing = dict(failing)
        return self.snapshot_locked({"previous": "WAITING", "failing": failing_details(self.failing)})

    def transition(self, to: OpState, reason: str, failing: Mapping[str, CheckResult]) -> OpState | None:
        """Move to ``to`` (logged and persisted); returns the previous state, or None when
        nothing changed (already there, or shutting down)."""
        with self.lock:
            previous = self.op.state
            if previous == to or (self.closed and to != OpState.SHUTDOWN):
                return None
            self.op.move(to, reason, self.now_ns())
            self.failing = {n: r for n, r in failing.items() if not r.ok}
            snap = self.snapshot_locked({"previous": previous.name, "failing": failing_details(self.failing)})
            self.changed.notify_all()
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
            extra={"component": COMPONENT, "op_state": to.name, "previous_state": previous.name},
        )
        self.persist(snap)
        return previous

    def close_locked(self, reason: str, steps: Sequence[str]) -> tuple[OpState, Snapshot]:
        """Enter SHUTDOWN for good (caller holds the lock); returns the previous state and the
        write that says so, naming the shutdown ``steps``."""
        self.closed = True
        previous = self.op.state
        if previous != OpState.SHUTDOWN:
            self.op.move(OpState.SHUTDOWN, reason, self.now_ns())
        snap = self.snapshot_locked({"previous": previous.name, "failing": {}, "steps": list(steps)})
        self.changed.notify_all()
        return previous, snap

    def persist(self, snap: Snapshot, lock_timeout_s: float | None = None) -> bool:
        """Write ``snap`` unless a newer one was written; False when it could not be."""
        if self.store is None:
            return True
        if not self._persist_lock.acquire(timeout=-1 if lock_timeout_s is None else max(lock_timeout_s, 0.0)):
            return False
        try:
            if snap.seq <= self._persisted_seq:
                return True
            self.store.save_operational_state(
                snap.state,
                snap.reason,
                snap.entered_at,
                details=snap.details,
                now=datetime_utc(self.now_ns()),
            )
            self._persisted_seq = snap.seq
            return True
        except Exception as exc:
            log.warning(
                "could not persist operational state %s: %s",
                snap.state.name,
                describe(exc),
                extra={"component": COMPONENT, "op_state": snap.state.name},
            )
            return False
        finally:
            self._persist_lock.release()

    def persisted(self, snap: Snapshot) -> bool:
        """Whether ``snap`` (or a newer write) reached the store; True without a store."""
        return self.store is None or self._persisted_seq >= snap.seq

    def retry_persist(self) -> None:
        """Write the latest state again if its write failed."""
        with self.lock:
            latest = self._latest
        if latest is not None and latest.seq > self._persisted_seq:
            self.persist(latest)

    def wait_until_active(self, timeout_s: float | None) -> bool:
        """Block until ACTIVE (True) or ``timeout_s`` seconds passed (False; None: no limit);
        False at once in ERROR or SHUTDOWN."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self.changed:
            while True:
                current = self.op.state
                if current == OpState.ACTIVE:
                    return True
                if current in (OpState.ERROR, OpState.SHUTDOWN):
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.changed.wait(left)
