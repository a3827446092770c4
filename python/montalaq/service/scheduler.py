"""The service's scheduler in the server's event loop: start-up checks, a watched cycle
every tick in a daemon thread, push feeds consumed by tasks, the board saved on the way
out (docs/semantics.md, "Lifecycle at run time")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from montalaq.health import OpState

if TYPE_CHECKING:
    from montalaq.service.core import Service

log = logging.getLogger("montalaq.service")


class Scheduler:
    """Runs ``service``'s cycles (:meth:`Service.run`). ``restore_state``: restore the saved
    board before the first cycle that runs ACTIVE (the database answers then)."""

    def __init__(self, service: Service, *, restore_state: bool) -> None:
        self.service = service
        self.running = False
        self._restore_pending = restore_state

    async def run(self, stop: asyncio.Event, tick_s: float) -> None:
        """:meth:`Service.run`."""
        if isinstance(tick_s, bool) or not isinstance(tick_s, int | float) or not tick_s > 0:
            raise ValueError(f"tick_s: expected seconds > 0, got {tick_s!r}")
        if self.running:
            raise RuntimeError("Service.run is already running")
        self.running = True
        svc = self.service
        tasks: list[asyncio.Task[None]] = []
        starting = asyncio.create_task(asyncio.to_thread(svc.lifecycle.start), name="montalaq-startup")
        if svc.monitoring is not None:
            svc.monitoring.start()
        try:
            while not stop.is_set() and not starting.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(starting), tick_s)
            if not stop.is_set():
                svc.supervisor.start(stop, tasks)
            while not stop.is_set():
                await self._tick(stop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick_s)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not starting.done():
                # Start-up checks still retrying: the shutdown below cuts their waits short.
                starting.cancel()
            svc.supervisor.stop()
            if svc.stats.cycles and "database" not in svc.lifecycle.failing():
                await in_daemon_thread(svc.save_state)
            if svc.monitoring is not None:
                await asyncio.to_thread(svc.monitoring.stop)
            self.running = False

    async def _tick(self, stop: asyncio.Event) -> None:
        """One tick: the pending restore once ACTIVE, then a cycle in ACTIVE and WAITING (a
        failing cycle is logged and counted, never raised)."""
        svc = self.service
        if self._restore_pending and svc.state == OpState.ACTIVE:
            self._restore_pending = False
            await asyncio.to_thread(svc.restore_state)
        if svc.state in (OpState.ACTIVE, OpState.WAITING):
            try:
                await self._watched_step(stop)
            except Exception:
                svc.stats.step_errors += 1
                log.exception("scheduler cycle failed", extra={"component": "service"})

    async def _watched_step(self, stop: asyncio.Event) -> None:
        """One cycle in a daemon thread, watched: a cycle still running after
        ``cycle_stall_s`` (a database that accepts and never answers, say) is reported to
        the lifecycle as the dependency ``cycle`` every 5 s until it ends, so the process
        goes WAITING instead of looking healthy while frozen; the report clears when it
        ends. ``stop`` abandons a cycle in flight: a daemon thread stuck on a hung database
        never holds up the process's exit (an executor thread would)."""
        svc = self.service
        step = in_daemon_thread(svc.step, int(svc.clock()))
        stopping = asyncio.ensure_future(stop.wait())
        waited_s = 0.0
        limit_s = svc.cycle_stall_s
        stalled = False
        try:
            while True:
                done, _ = await asyncio.wait(
                    {step, stopping}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED
                )
                if step in done:
                    break
                if stopping in done:
                    return  # leave the thread; shutdown goes on
                waited_s += limit_s
                limit_s = 5.0
                stalled = True
                log.warning("a cycle has run for %.0f s", waited_s, extra={"component": "service"})
                svc.lifecycle.report("cycle", TimeoutError(f"a cycle has run for {waited_s:.0f} s"))
        finally:
            stopping.cancel()
        if stalled:
            svc.lifecycle.report("cycle", None)
        step.result()


def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn(*args)`` in a new daemon thread, as an awaitable future of this loop (the
    interpreter does not wait for it at exit, unlike ``asyncio.to_thread``'s executor)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def hand_over(result: Any, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, exc)

    def target() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            hand_over(None, exc)
            return
        hand_over(result, None)

    threading.Thread(target=target, name="montalaq-cycle", daemon=True).start()
    return fut
