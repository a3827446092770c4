"""Celery's own per-task log lines for montalaq's periodic tasks at DEBUG, not INFO.

A worker logs "Task ... received" and "Task ... succeeded" at INFO for every task; the tick
runs every second (or faster), so those two lines drowned everything else a worker says.
Analyses, failures and retries keep Celery's levels (docs/operations.md, "Scale-out on Celery").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

PERIODIC_TASKS = frozenset(
    f"montalaq.{name}" for name in ("tick", "escalation", "breakers", "kpi_rollup", "deliver")
)
# The loggers Celery writes the received (worker.strategy) and succeeded (app.trace) lines to.
CELERY_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


class PeriodicTaskLinesToDebug(logging.Filter):
    """Demotes Celery's INFO lines about montalaq's periodic tasks to DEBUG: dropped unless
    the logger is enabled for DEBUG, else passed on as DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False drops the record; a kept periodic-task line leaves as DEBUG."""
        args = record.args
        if record.levelno != logging.INFO or not isinstance(args, Mapping):
            return True
        if args.get("name") not in PERIODIC_TASKS:
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def quiet_periodic_task_lines() -> None:
    """Attach the filter to Celery's task loggers (once per process)."""
    for name in CELERY_TASK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, PeriodicTaskLinesToDebug) for f in logger.filters):
            logger.addFilter(PeriodicTaskLinesToDebug())


__all__ = ["CELERY_TASK_LOGGERS", "PERIODIC_TASKS", "PeriodicTaskLinesToDebug", "quiet_periodic_task_lines"]
