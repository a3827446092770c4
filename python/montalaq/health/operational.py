"""The operational state machine: STARTING / ACTIVE / WAITING / ERROR / SHUTDOWN
(docs/semantics.md, "Health core": operational state)."""

from __future__ import annotations

from typing import Any

from montalaq._native import health as _h
from montalaq._time import datetime_utc

OpState = _h.OpState
InvalidTransitionError = _h.InvalidTransitionError


class OperationalState(_h.OperationalState):
    """STARTING / ACTIVE / WAITING / ERROR / SHUTDOWN with the transitions of docs/semantics.md,
    "Health core": operational state.

    ``transition(to, reason)`` raises :class:`InvalidTransitionError` (a ValueError) for
    anything else; each state records when it was entered and why.
    """

    def __init__(self, now: Any = None, reason: str = "created") -> None:
        super().__init__(now, reason)

    @classmethod
    def from_json(cls, text: str) -> OperationalState:
        """A state machine from ``to_json()`` output; ValueError on a bad document."""
        state = cls()
        state.load_json(text)
        return state

    def move(self, to: OpState | str, reason: str = "", now: Any = None) -> bool:
        """``transition`` that also takes the state's name ("ACTIVE")."""
        target = to if isinstance(to, OpState) else _op_state(to)
        return self.transition(target, now, reason)

    @property
    def entered_at(self) -> Any:
        """Aware UTC datetime at which the current state was entered."""
        return datetime_utc(self.entered_at_ns)


def _op_state(name: str) -> OpState:
    try:
        return OpState.__members__[name.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"to: unknown state {name!r}; expected one of {list(OpState.__members__)}") from None


__all__ = ["InvalidTransitionError", "OpState", "OperationalState"]
