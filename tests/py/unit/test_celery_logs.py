"""Celery's per-task lines of montalaq's periodic tasks leave at DEBUG (montalaq.celery.logs),
emitted through Celery's own logging functions so a change in Celery's format shows here."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("celery")

from celery.app import trace  # type: ignore[import-untyped]

from montalaq.celery.logs import PeriodicTaskLinesToDebug, quiet_periodic_task_lines


def _succeeded(name: str) -> None:
    trace.info(
        trace.LOG_SUCCESS,
        {"id": "1", "name": name, "return_value": "{}", "runtime": 0.01, "args": "()", "kwargs": "{}"},
    )


def test_periodic_task_lines_are_dropped_at_info_and_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    quiet_periodic_task_lines()
    quiet_periodic_task_lines()  # idempotent: one filter per logger
    logger = logging.getLogger("celery.app.trace")
    assert sum(isinstance(f, PeriodicTaskLinesToDebug) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="celery.app.trace"):
        _succeeded("montalaq.tick")
        _succeeded("montalaq.deliver")
        _succeeded("montalaq.analyse")
        _succeeded("proj.tasks.add")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split("[")[0] for line in lines] == ["Task montalaq.analyse", "Task proj.tasks.add"]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_periodic_task_lines_are_kept_as_debug_when_debug_is_on(caplog: pytest.LogCaptureFixture) -> None:
    quiet_periodic_task_lines()
    with caplog.at_level(logging.DEBUG, logger="celery.app.trace"):
        _succeeded("montalaq.tick")
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.levelname == "DEBUG"
    assert record.getMessage().startswith("Task montalaq.tick[1] succeeded")
