"""The one-process service: engine, escalation board, agents, analyses, feeds and
notifications behind one object -- what the HTTP API serves and ``montalaq serve`` runs::

    service = Service(Settings.from_env())            # SQLite store, bundled SPY replay
    await service.run(stop)                           # the scheduler, in the server's loop
    service.step(now)                                 # or one cycle, deterministically

docs/semantics.md, "Service" (the cycle and its decisions), "Lifecycle at run time" and
"State that survives a restart"; docs/architecture.md, "One cycle" (which module holds what).
"""

from __future__ import annotations

from montalaq.service.core import Service
from montalaq.service.stats import ServiceStats, StepReport
from montalaq.service.views import NO_PROVIDER

__all__ = ["NO_PROVIDER", "Service", "ServiceStats", "StepReport"]
