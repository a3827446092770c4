"""The one-process service's side of :func:`montalaq.cycle.escalate` (docs/architecture.md,
"One cycle"): the engine's last trades, the last errors and events in memory,
notifications straight to the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from montalaq import cycle
from montalaq.shapes import EscalationEvent, EventDoc

if TYPE_CHECKING:
    from montalaq.engine import MarketEngine
    from montalaq.service.core import Service


class MemoryBoardHost:
    """The :class:`montalaq.cycle.BoardHost` of one evaluation of ``service``'s board."""

    component = "service"

    def __init__(self, service: Service) -> None:
        self.service = service
        self.events: list[EscalationEvent] = []

    def ticks(self) -> MarketEngine:
        return self.service.engine

    def last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        return self.service._last_errors()

    def previous_eval_ns(self) -> int:
        return self.service._last_eval_ns or 0

    def not_green(self, now_ns: int, ticks: Any, events: Sequence[EventDoc]) -> list[tuple[str, str]]:
        return [
            (str(r["symbol"]), str(r["timeframe"]))
            for r in self.service.board.pairs(now_ns)
            if r["freshness"] in ("AMBER", "RED")  # CLOSED owes no trade: not stale
        ]

    def commit(self, events: Sequence[EscalationEvent], new_errors: cycle.ErrorMap, now_ns: int) -> None:
        svc = self.service
        with svc._lock:
            svc._last_error.update(new_errors)
        svc._last_eval_ns = now_ns
        self.events = list(events)

    def notify(self, errors: cycle.ErrorMap) -> int:
        return sum(
            self.service._notify_event(e, errors.get((e["symbol"], e["timeframe"]))) for e in self.events
        )
