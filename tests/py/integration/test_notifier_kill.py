"""No loss across SIGKILL: a notifier delivering a burst of 5,000 events is killed mid-burst
and restarted; every event arrives, duplicates only where at-least-once allows, each with
its idempotency key so the receiver can drop them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from montalaq.store import Store

PROC = str(Path(__file__).with_name("notifier_proc.py"))
N = 5000


def _spawn(db: Path, url: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROC, str(db), url, mode, str(N)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _wait_line(proc: subprocess.Popen[str], want: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == want:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"notifier exited early: {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError(f"no {want!r} from the notifier within {timeout_s} s")


def test_sigkill_mid_burst_loses_nothing_and_restart_resumes(tmp_path: Path, http_receiver: Any) -> None:
    db = tmp_path / "kill.db"
    url = http_receiver.url + "/hook"
    first = _spawn(db, url, "produce")
    try:
        _wait_line(first, "enqueued", 60.0)
        deadline = time.monotonic() + 60.0
        while len(http_receiver.accepted()) < 1000 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = len(http_receiver.accepted())
    assert 1000 <= at_kill < N, f"the kill must land mid-burst (receiver had {at_kill})"
    second = _spawn(db, url, "resume")
    try:
        deadline = time.monotonic() + 120.0
        while len(set(http_receiver.idempotency_keys())) < N and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    keys = http_receiver.idempotency_keys()
    assert set(keys) == {f"evt-{i:05d}" for i in range(N)}
    dupes = {k: c for k, c in Counter(keys).items() if c > 1}
    # At least once: only rows sent but not yet marked when the kill landed come again,
    # at most one marking batch (mark_every=20) plus the row in flight.
    assert len(dupes) <= 21, f"{len(dupes)} duplicated keys"
    with Store(f"sqlite:///{db}") as store:
        counts = store.outbox.counts()
    assert counts["SENT"] == N
    assert counts["PENDING"] == 0
