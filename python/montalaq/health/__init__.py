"""Health core (docs/semantics.md, "Health core"): freshness, the escalation ladder with
per-pair breakers, the generic circuit breaker, and the operational state machine.

Everything runs in the native core; time is passed in as ``now`` (int ns, aware
datetime, datetime64) and defaults to the wall clock when omitted. One concept a module:
``freshness``, ``escalation`` (the board and its tick sources), ``breaker`` (the circuit
breaker and its exception rules), ``operational`` (the state machine).
"""

from __future__ import annotations

from montalaq.health.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from montalaq.health.escalation import EscalationBoard, Level
from montalaq.health.freshness import Colour, Freshness
from montalaq.health.operational import InvalidTransitionError, OperationalState, OpState

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Colour",
    "EscalationBoard",
    "Freshness",
    "InvalidTransitionError",
    "Level",
    "OpState",
    "OperationalState",
]
