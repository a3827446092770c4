"""The Celery application the worker integration tests run: ``celery -A celery_worker_app
worker|beat`` with the test's configuration in ``MONTALAQ_TEST_CELERY`` (JSON, see
:func:`make_app`). The test process builds the same app with :func:`make_app` to send tasks
and read the shared state.

Test scaffolding only: the model (``ml``) sleeps ``ml_sleep_s`` (so a worker is busy when it
is killed) and raises for a bar closing below ``ml_fail_below`` (the BROKEN instrument's
price range: a model that fails on one instrument); with ``duplicate_analyses`` every
analysis request is published twice, so both workers see the same bar.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import after_task_publish  # type: ignore[import-untyped]

import montalaq.celery as mc
from montalaq.settings import Settings

_republishing = threading.local()


def make_app(config: Mapping[str, Any]) -> tuple[Celery, mc.MontalaqCelery]:
    """The app and montalaq's handle for ``config``: ``broker_url``, ``prefix``, ``queue``,
    ``env`` (the settings' environment), ``watchlist_path``, ``tick_interval_s``,
    ``deliver_interval_s``, ``visibility_timeout_s``, ``ml_sleep_s``, ``ml_fail_below``,
    ``duplicate_analyses``."""
    app = Celery("montalaq_test", broker=config["broker_url"])
    app.conf.broker_transport_options = {
        # Every broker key under the test's prefix (cleaned up with the rest).
        "global_keyprefix": f"{config['prefix']}kombu:",
        # A killed worker's message comes back after this many seconds...
        "visibility_timeout": float(config["visibility_timeout_s"]),
        # ... found by a sweep every second.
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    app.conf.task_default_queue = config["queue"]
    app.conf.broker_connection_retry_on_startup = True
    app.conf.worker_hijack_root_logger = False
    app.conf.beat_max_loop_interval = 0.1  # the test's periods are sub-second
    app.conf.worker_prefetch_multiplier = 1  # the host's choice (docs/operations.md, Workers)
    sleep_s = float(config.get("ml_sleep_s", 0.0))
    fail_below = float(config.get("ml_fail_below", 0.0))

    def ml(features: Mapping[str, float | None]) -> float | None:
        if sleep_s:
            time.sleep(sleep_s)
        close = features.get("close")
        if close is not None and close < fail_below:
            raise RuntimeError(f"model cannot score an instrument below {fail_below}")
        return None

    handle = mc.install(
        app,
        Settings.from_env(config["env"]),
        watchlist=config["watchlist_path"],
        options=mc.CeleryOptions(
            prefix=config["prefix"],
            queue=config["queue"],
            tick_interval_s=float(config["tick_interval_s"]),
            deliver_interval_s=float(config["deliver_interval_s"]),
            lock_timeout_s=20.0,
            analysis_lease_s=60.0,
        ),
        ml=ml,
    )
    if config.get("duplicate_analyses"):

        @after_task_publish.connect(weak=False)  # type: ignore[untyped-decorator]
        def _publish_twice(sender: str | None = None, body: Any = None, **_: Any) -> None:
            if sender != "montalaq.analyse" or getattr(_republishing, "on", False):
                return
            args = body[0] if isinstance(body, list | tuple) else None
            if not args:
                return
            _republishing.on = True
            try:
                handle.tasks["analyse"].apply_async(args=list(args), queue=config["queue"])
            finally:
                _republishing.on = False

    return app, handle


_CONFIG = os.environ.get("MONTALAQ_TEST_CELERY")
if _CONFIG:
    app, montalaq_handle = make_app(json.loads(_CONFIG))
