"""A notifier process for the SIGKILL test: ``produce`` queues N events (keys evt-00000...)
while its worker delivers; ``resume`` only starts the worker. Runs until killed."""

from __future__ import annotations

import sys
import time

from montalaq.notify import Notifier, WebhookChannel
from montalaq.store import Store


def main() -> None:
    db, url, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(f"sqlite:///{db}")
    notifier = Notifier(
        store,
        [WebhookChannel(url, timeout_s=5.0)],
        rate_limit_per_min=10_000_000,  # this test is about loss, not the rate limit
        poll_interval_s=0.02,
        mark_every=20,
    )
    notifier.start()
    if mode == "produce":
        for i in range(count):
            notifier.notify("alert", f"event {i}", idempotency_key=f"evt-{i:05d}")
        print("enqueued", flush=True)
    print("running", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
