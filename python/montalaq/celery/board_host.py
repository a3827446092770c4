"""The Celery side of :func:`montalaq.cycle.escalate` (docs/architecture.md, "One cycle"):
last trades from the tick's packed array, last errors in Redis, the result saved in one
fenced transaction with the events kept in the pending list until they are queued."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from montalaq.celery.board import BoardCache, save_board
from montalaq.celery.colours import colours
from montalaq.celery.events import notify_pending
from montalaq.cycle import ErrorMap
from montalaq.shapes import EscalationEvent, EventDoc

if TYPE_CHECKING:
    from montalaq.celery.runtime import Runtime


class RedisBoardHost:
    """A :class:`montalaq.cycle.BoardHost` over the shared state. ``failures``: how many
    queued failures were applied to the board (the commit consumes them); ``failed_pairs``:
    their board indices. After :meth:`not_green`, ``codes`` holds every index's colour and
    ``which`` the indices whose rows this evaluation writes (None: all)."""

    component = "celery"

    def __init__(self, rt: Runtime, cache: BoardCache, failures: int, ticks: npt.NDArray[np.int64]) -> None:
        self.rt = rt
        self.cache = cache
        self.failures = failures
        self._ticks = ticks
        self.codes: npt.NDArray[np.uint8] | None = None
        self.which: set[int] | None = None
        self.failed_pairs: set[int] = set()
        prev = rt.state.client.get(rt.state.key("eval_ns"))
        self._prev_eval = int(prev) if prev is not None else 0

    def ticks(self) -> npt.NDArray[np.int64]:
        return self._ticks

    def last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        return self.rt.state.last_errors()

    def previous_eval_ns(self) -> int:
        return self._prev_eval

    def not_green(self, now_ns: int, ticks: Any, events: Sequence[EventDoc]) -> list[tuple[str, str]]:
        """The pairs not GREEN among those whose rows this evaluation writes: every pair up
        to ``status_all_pairs_max`` (or without a previous colour array), else the pairs
        whose colour changed or that got a failure."""
        cache, state = self.cache, self.rt.state
        codes = colours(cache, self._ticks, now_ns)
        self.codes = codes
        prev_raw = state.client.get(state.key("colours"))
        which: set[int] | None = None
        if len(cache.pairs) > self.rt.options.status_all_pairs_max and prev_raw is not None:
            prev = np.frombuffer(
                prev_raw if isinstance(prev_raw, bytes) else prev_raw.encode(), dtype=np.uint8
            )
            if len(prev) == len(codes):
                which = set(self.failed_pairs) | {int(i) for i in np.nonzero(prev != codes)[0]}
        self.which = which
        candidates = range(len(codes)) if which is None else which
        # CLOSED (3) is not stale: outside the session no pair owes a trade.
        return [p for i in candidates if codes[i] in (1, 2) and (p := cache.pairs[i]) is not None]

    def commit(self, events: Sequence[EscalationEvent], new_errors: ErrorMap, now_ns: int) -> None:
        save_board(
            self.rt,
            self.cache,
            consumed_failures=self.failures,
            events=events,
            colour_codes=self.codes,
            eval_ns=now_ns,
            last_errors=new_errors,
        )

    def notify(self, errors: ErrorMap) -> int:
        return notify_pending(self.rt)


__all__ = ["RedisBoardHost"]
