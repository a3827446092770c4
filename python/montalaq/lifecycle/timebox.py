"""A call given a budget: it runs in a daemon thread that is abandoned, still running, when
the budget is spent (checks and shutdown steps; docs/semantics.md, section Lifecycle)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, Literal

Outcome = Literal["returned", "raised", "timed_out"]


def run_timeboxed(fn: Callable[[], object], timeout_s: float, thread_name: str) -> tuple[Outcome, Any, Any]:
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
