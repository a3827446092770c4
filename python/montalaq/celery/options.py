"""Options of the Celery integration that are not environment settings (docs/semantics.md, Settings has
the intervals of escalation, breakers and KPI rollup; these are the rest)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CeleryOptions:
    """How montalaq runs on Celery. Times in seconds.

    - ``prefix``: Redis key prefix of the shared state (keys under ``<prefix>celery:``) and of
      the Redis guards (``<prefix>signal-dedupe:``, ``<prefix>notify-rate:``, ...).
    - ``tick_interval_s``: beat period of the scheduler tick (ingest, enqueue analyses).
    - ``deliver_interval_s``: beat period of notification delivery (an analysis or an
      escalation that queued a notification also asks for a delivery at once).
    - ``queue``: the queue of every montalaq task (None: the app's default queue);
      ``feed_queue``: the tick's queue (None: ``queue``) -- route it to one worker to keep
      the feed's engine in one process (any worker can take over; see docs).
    - ``analysis_lease_s``: how long a running analysis holds its bar before another
      delivery of the same task may take it over (longer than any analysis).
    - ``claim_ttl_s``: how long a bar's claim (queued/done) is kept; a bar redelivered later
      than this would be analysed again (its signal still notifies at most once).
    - ``order_wait_s``: an analysis waits at most this long for the previous bar of its pair
      to finish (in order per pair), then runs anyway.
    - ``lock_timeout_s``: lifetime of the tick, board and KPI locks (a killed holder blocks
      the others at most this long); must exceed the longest tick or evaluation.
    - ``outbox_lease_s``: how long a worker's claim on outbox rows lasts; rows a killed
      worker was sending go out again (same idempotency key) after this long.
    - ``kpi_keep``: KPI windows kept in Redis.
    - ``status_all_pairs_max``: up to this many pairs every escalation cycle rewrites every
      ``ingestion_status`` row (as the one-process service does); above it, only rows whose
      freshness, level, breaker or last error changed.
    - ``store_retries``: retries of an analysis whose store write failed (the database is
      down) before it is recorded as a failure.
    """

    prefix: str = "montalaq:"
    tick_interval_s: float = 5.0
    deliver_interval_s: float = 2.0
    queue: str | None = None
    feed_queue: str | None = None
    analysis_lease_s: float = 120.0
    claim_ttl_s: float = 7 * 86_400.0
    order_wait_s: float = 300.0
    lock_timeout_s: float = 120.0
    outbox_lease_s: float = 60.0
    kpi_keep: int = 10_080
    status_all_pairs_max: int = 5_000
    store_retries: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ValueError(f"prefix: expected a non-empty string such as 'montalaq:', got {self.prefix!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s"):
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise ValueError(f"{f.name}: expected a finite number of seconds > 0, got {value!r}")
                if value <= 0:
                    raise ValueError(f"{f.name}: expected a finite number of seconds > 0, got {value!r}")
            elif f.name in ("kpi_keep", "status_all_pairs_max", "store_retries"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{f.name}: expected an integer >= 0, got {value!r}")
            elif (
                f.name in ("queue", "feed_queue")
                and value is not None
                and (not isinstance(value, str) or not value)
            ):
                raise ValueError(f"{f.name}: expected a queue name or None, got {value!r}")

    @property
    def tick_queue(self) -> str | None:
        """The queue the tick goes to."""
        return self.feed_queue if self.feed_queue is not None else self.queue


__all__ = ["CeleryOptions"]
