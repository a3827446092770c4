"""The agent registry: named agents with their intervals and run status, which of them are
due, and one call to run one (docs/semantics.md, "Agents")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

from montalaq._time import UNSET, TimeLike, Unset, now_or_old_ns
from montalaq.agents.context import AgentContext, AgentFn
from montalaq.agents.runner import AgentStatus, run_agent
from montalaq.agents.spec import AgentFnT, AgentSpec, agent, check_interval, check_name, tagged_spec
from montalaq.records import Finding
from montalaq.shapes import AgentStatusDoc


class AgentRegistry:
    """Named agents with their intervals and run status. Thread-safe.

    ``run(name, ctx)`` evaluates one agent for one symbol and never raises for what the
    agent does (docs/semantics.md, "Agents"); ``due(now)`` says which agents' intervals
    have passed since their last run.
    """

    def __init__(self, *, bars_in_findings: bool = False) -> None:
        self._specs: dict[str, AgentSpec] = {}
        self._status: dict[str, AgentStatus] = {}
        self._lock = threading.Lock()
        # FEATURE_BARS: every finding also carries the latest closed bar of each timeframe.
        self.bars_in_findings = bars_in_findings

    def register(
        self,
        name: str,
        fn: AgentFn,
        *,
        interval_s: float = 60.0,
        description: str = "",
        replace: bool = False,
    ) -> AgentSpec:
        """Register ``fn`` as agent ``name`` (ValueError if taken, unless ``replace``)."""
        spec_name = check_name(name)
        interval = check_interval(interval_s)
        if not callable(fn):
            raise TypeError(f"fn: expected a callable (ctx) -> Finding | None, got {type(fn).__name__}")
        spec = AgentSpec(spec_name, fn, interval, description)
        with self._lock:
            if spec_name in self._specs and not replace:
                raise ValueError(f"name: agent {spec_name!r} is already registered (pass replace=True)")
            self._specs[spec_name] = spec
            self._status[spec_name] = AgentStatus()
        return spec

    def add(self, fn: AgentFn) -> AgentSpec:
        """Register a function tagged by the module-level :func:`agent` decorator."""
        spec = tagged_spec(fn)
        if spec is None:
            raise TypeError(
                "fn: expected a function decorated with @montalaq.agents.agent(name, interval_s=...)"
            )
        return self.register(spec.name, spec.fn, interval_s=spec.interval_s, description=spec.description)

    def agent(self, name: str, *, interval_s: float = 60.0) -> Callable[[AgentFnT], AgentFnT]:
        """Decorator registering a user agent here (see :func:`agent`)."""
        return agent(name, interval_s=interval_s, registry=self)

    def unregister(self, name: str) -> None:
        """Remove agent ``name`` (ValueError naming it if unknown)."""
        with self._lock:
            self._spec(name)
            del self._specs[name]
            del self._status[name]

    def _spec(self, name: str) -> AgentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ValueError(f"names: unknown agent {name!r}; registered: {sorted(self._specs)}") from None

    def names(self) -> list[str]:
        """Registered agent names, in registration order."""
        with self._lock:
            return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[AgentSpec]:
        with self._lock:
            return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> AgentSpec:
        """The spec of agent ``name`` (ValueError naming it if unknown)."""
        with self._lock:
            return self._spec(name)

    def validate(self, names: Sequence[str] | None) -> list[str]:
        """``names`` checked against the registry (None: every agent); ValueError names an
        unknown one."""
        if names is None:
            return self.names()
        if isinstance(names, str):
            names = [names]
        with self._lock:
            for n in names:
                self._spec(n)
        return list(dict.fromkeys(names))

    def run(self, name: str, ctx: AgentContext) -> Finding | None:
        """Evaluate agent ``name`` on ``ctx``; its finding, or None (also on any error)."""
        finding, error = run_agent(self.get(name), ctx, bars_in_findings=self.bars_in_findings)
        with self._lock:
            st = self._status.get(name)
            if st is not None:  # None: unregistered while running
                st.record(ctx.now_ns, error)
        return finding

    def status(self, name: str | None = None) -> dict[str, AgentStatusDoc]:
        """``{name: {status, last_run, last_error, runs, errors}}`` of one agent or all."""
        with self._lock:
            if name is not None:
                self._spec(name)
                return {name: self._status[name].to_dict()}
            return {n: st.to_dict() for n, st in self._status.items()}

    def due(self, now: TimeLike | None = None, *, now_ns: int | Unset = UNSET) -> list[str]:
        """Agents never run, or last run at least their ``interval_s`` before ``now`` (int ns,
        an aware datetime or datetime64; None: the wall clock). ``now_ns=`` is deprecated."""
        at = now_or_old_ns(now, now_ns)
        now_ns = time.time_ns() if at is None else at
        with self._lock:
            out = []
            for n, spec in self._specs.items():
                last = self._status[n].last_run_ns
                if last is None or now_ns - last >= int(spec.interval_s * 1e9):
                    out.append(n)
            return out


__all__ = ["AgentRegistry"]
