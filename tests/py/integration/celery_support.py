"""Helpers of the Celery integration tests: a cluster of real ``celery worker`` and
``celery beat`` processes on a real Redis broker and PostgreSQL, and the bars a replay
must have closed, computed from the trades themselves (independently of the engine)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import montalaq
from montalaq.feeds import ReplayProvider, SimulatedProvider
from montalaq.timeframes import parse_timeframe

HERE = Path(__file__).resolve().parent
NS = 1_000_000_000
SPY_SESSION_OFFSET_S = 5.5 * 3600  # the SPY sample's regular session starts 5.5 h in


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passed; its last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


def _child_env(config: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    # The worker imports montalaq from wherever this test process does (source tree or site).
    pkg_root = str(Path(montalaq.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MONTALAQ_TEST_CELERY"] = json.dumps(config)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


@dataclass
class Proc:
    """A started celery process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    """Celery workers and a beat for one test configuration, logs under ``tmp``."""

    def __init__(self, config: Mapping[str, Any], tmp: Path) -> None:
        self.config = dict(config)
        self.tmp = tmp
        self.procs: dict[str, Proc] = {}

    def _start(self, name: str, args: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = log.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_worker_app", *args],
            cwd=str(HERE),
            env=_child_env(self.config),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        fh.close()
        proc = Proc(name, popen, log)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str) -> Proc:
        """A solo-pool worker (one task at a time) consuming the test's queue."""
        return self._start(
            name,
            [
                "worker",
                "-P",
                "solo",
                "-n",
                f"{name}@%h",
                "-Q",
                self.config["queue"],
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )

    def wait_ready(self, proc: Proc, timeout_s: float = 60.0) -> None:
        """Until the worker logs that it is ready (fails with its log otherwise)."""
        ok = wait_until(lambda: "ready." in proc.text() or proc.popen.poll() is not None, timeout_s)
        if not ok or proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} did not start:\n{proc.text()[-4000:]}")

    def start_beat(self) -> Proc:
        """The beat (the app sets ``beat_max_loop_interval``: the test's periods are
        sub-second)."""
        return self._start("beat", ["beat", "-s", str(self.tmp / "beat-schedule"), "-l", "INFO"])

    def stop(self, name: str, timeout_s: float = 20.0) -> None:
        """SIGTERM (a warm shutdown: the running task finishes), then SIGKILL if needed."""
        proc = self.procs[name]
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)

    def kill(self, name: str) -> None:
        """SIGKILL: the process dies mid-task, nothing is acknowledged."""
        proc = self.procs[name]
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(name)


# ------------------------------------------------------------------------------ expected bars


def replay_trades_ns(
    source: Mapping[str, Any], origin_ns: int, until_ns: int
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Timestamps (ns) of the trades a watchlist entry's feed delivers up to ``until_ns``."""
    if source["kind"] == "sample":
        p: Any = ReplayProvider(
            montalaq.sample_path(source["name"]),
            start_offset_s=SPY_SESSION_OFFSET_S if source["name"] == "spy" else 0.0,
            start_ns=origin_ns,
            loop=True,
        )
    else:
        p = SimulatedProvider(
            "X",
            seed=int(source["seed"]),
            start_price=float(source["start_price"]),
            start_ns=origin_ns,
        )
    batches = p.take_until(until_ns)
    if not batches:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([b.ts_ns for b in batches]).astype(np.int64)


def closed_bar_starts(ts_ns: np.ndarray[Any, Any], timeframe: str, first_ns: int, until_ns: int) -> list[int]:
    """Start (ns) of every bar of ``timeframe`` that has a trade, starts at or after
    ``first_ns`` and ended by ``until_ns``."""
    tf = parse_timeframe(timeframe)
    starts = np.unique(ts_ns // tf * tf)
    keep = (starts >= first_ns) & (starts + tf <= until_ns)
    return [int(s) for s in starts[keep]]
