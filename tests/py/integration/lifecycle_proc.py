"""A host process for the lifecycle subprocess tests (tests/py/integration/test_lifecycle.py).

usage: lifecycle_proc.py DIR DB_URL WEBHOOK_URL [--raise STEP]... [--hang STEP]...

It builds a real SQLite Store (DB_URL), a Notifier with a WebhookChannel to WEBHOOK_URL
(worker started) and a Lifecycle whose checks are the built-in ``database`` and
``alerts_dir`` (under DIR) plus ``upstream``, driven by files in DIR: it passes when
``upstream_ok`` exists, fails PERMANENT when ``upstream_broken`` exists, TRANSIENT otherwise.
Timings are scaled down (back-off base 0.05 s, re-check 0.3 s, status 1 s); the shutdown
steps keep docs/semantics.md, Lifecycle's budgets. Each host step appends its name to DIR/steps.log, then
raises
(``--raise``) or sleeps 60 s (``--hang``); ``disconnect`` also stops the notifier.

stdout: ``starting`` once, ``state <STATE>`` when start() returns, and ``report <json>`` as
the process unwinds after a signal (SystemExit from the handler runs ``finally``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from montalaq.lifecycle import CheckResult, Lifecycle, StartupCheck, builtin_checks
from montalaq.notify import Notifier, WebhookChannel
from montalaq.settings import Settings
from montalaq.store import Store


def _upstream(base: Path) -> Callable[[], CheckResult]:
    def upstream() -> CheckResult:
        if (base / "upstream_broken").exists():
            return CheckResult.permanent("upstream rejected our credentials")
        if (base / "upstream_ok").exists():
            return CheckResult.passed()
        return CheckResult.transient("upstream not reachable yet", "PROVIDER_DISCONNECTED")

    return upstream


def _step(
    base: Path, name: str, raises: set[str], hangs: set[str], after: Callable[[], object]
) -> Callable[[], None]:
    def step() -> None:
        with (base / "steps.log").open("a") as f:
            f.write(name + "\n")
            f.flush()
        if name in raises:
            raise RuntimeError(f"{name} failed on purpose")
        if name in hangs:
            time.sleep(60)
        after()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("db_url")
    parser.add_argument("webhook_url")
    parser.add_argument("--raise", dest="raises", action="append", default=[])
    parser.add_argument("--hang", dest="hangs", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")

    base: Path = args.dir
    store = Store(args.db_url)
    notifier = Notifier(store, [WebhookChannel(args.webhook_url, timeout_s=2.0)], poll_interval_s=0.05)
    notifier.start()
    raises, hangs = set(args.raises), set(args.hangs)

    def nothing() -> None:
        return None

    def stop_notifier() -> None:
        notifier.stop(timeout_s=0.5)

    checks = [
        *builtin_checks(Settings.from_env({}), store, base_dir=base),
        StartupCheck("upstream", _upstream(base)),
    ]
    lifecycle = Lifecycle(
        checks,
        store=store,
        notifier=notifier,
        retries=3,
        backoff_base_s=0.05,
        recheck_interval_s=0.3,
        status_interval_s=1.0,
        check_timeout_s=5.0,
        shutdown_steps={
            name: _step(base, name, raises, hangs, stop_notifier if name == "disconnect" else nothing)
            for name in ("cancel_orders", "close_positions", "save_state", "disconnect")
        },
    )
    lifecycle.install_signal_handlers()
    print("starting", flush=True)
    try:
        state = lifecycle.start()
        print(f"state {state.name}", flush=True)
        lifecycle.wait_for_shutdown()
    finally:
        report = lifecycle.shutdown_report
        if report is not None:
            print("report " + json.dumps(report.to_dict()), flush=True)


if __name__ == "__main__":
    main()
