"""How an agent is declared: its name, callable and run interval, checked once, and the
module-level ``@agent`` tag (docs/semantics.md, "Agents")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from montalaq.agents.context import AgentContext, AgentFn
from montalaq.records import Finding

if TYPE_CHECKING:
    from montalaq.agents.registry import AgentRegistry

AgentFnT = TypeVar("AgentFnT", bound=Callable[[AgentContext], Finding | None])
"""An agent function's own type, which the decorators hand back unchanged."""

# The attribute the module-level decorator leaves on a function for ``registry.add``.
_TAG = "__montalaq_agent__"


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent: its ``name``, callable and run interval (seconds)."""

    name: str
    fn: AgentFn
    interval_s: float
    description: str = ""


def check_name(name: object) -> str:
    """``name`` if it is 1-64 letters, digits and '_' (ValueError naming the rule)."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.replace("_", "").isalnum():
        raise ValueError(
            f"name: expected 1-64 characters of letters, digits and '_' (e.g. 'rvol_spike'), got {name!r}"
        )
    return name


def check_interval(interval_s: object) -> float:
    """``interval_s`` as float seconds > 0 (TypeError/ValueError otherwise)."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float):
        raise TypeError(f"interval_s: expected seconds > 0, got {type(interval_s).__name__}")
    if not math.isfinite(interval_s) or interval_s <= 0:
        raise ValueError(f"interval_s: expected seconds > 0, got {interval_s!r}")
    return float(interval_s)


def tagged_spec(fn: object) -> AgentSpec | None:
    """The spec the module-level :func:`agent` decorator left on ``fn``, or None."""
    spec = getattr(fn, _TAG, None)
    return spec if isinstance(spec, AgentSpec) else None


def agent(
    name: str, *, interval_s: float = 60.0, registry: AgentRegistry | None = None
) -> Callable[[AgentFnT], AgentFnT]:
    """Decorator for a user agent ``fn(ctx) -> Finding | None`` run every ``interval_s``
    seconds. With ``registry`` it registers the function there at once; without, it only
    tags the function, and ``registry.add(fn)`` registers it later. Returns ``fn`` itself."""
    spec_name = check_name(name)
    interval = check_interval(interval_s)

    def decorate(fn: AgentFnT) -> AgentFnT:
        if not callable(fn):
            raise TypeError(f"@agent({name!r}): expected a callable, got {type(fn).__name__}")
        setattr(fn, _TAG, AgentSpec(spec_name, fn, interval, (fn.__doc__ or "").strip().split("\n")[0]))
        if registry is not None:
            registry.add(fn)
        return fn

    return decorate


__all__ = ["AgentSpec", "agent", "check_interval", "check_name", "tagged_spec"]
