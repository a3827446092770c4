"""The operator commands' arguments on the ``montalaq`` sub-parsers, each command wired to
its module's ``run`` (docs/semantics.md, "Operator CLI")."""

from __future__ import annotations

from typing import Any

from montalaq.cli_ops import health, metrics, outbox, status, tail


def add_parsers(sub: Any) -> None:
    """Register ``tail``, ``status``, ``metrics``, ``outbox`` and ``health`` on the ``montalaq``
    sub-parsers."""
    tp = sub.add_parser("tail", help="follow alerts as they are written (logs/alerts/*.jsonl)")
    tp.add_argument("--alerts-dir", help="alert log folder (default ALERTS_DIR, logs/alerts)")
    tp.add_argument("--severity", help="only this severity and above: INFO, WARNING, CRITICAL")
    tp.add_argument("--rule", help="only this rule")
    tp.add_argument("-n", "--lines", type=int, default=10, help="show the last N alerts first (default 10)")
    tp.add_argument("--once", action="store_true", help="print the last alerts and exit (do not follow)")
    tp.add_argument("--poll", type=float, default=0.2, help="seconds between looks at the file (default 0.2)")
    tp.add_argument("--json", action="store_true", help="one JSON object per line")
    tp.set_defaults(func=tail.run)

    sp = sub.add_parser("status", help="operational state, active alerts, pairs and breakers")
    sp.add_argument("--alerts-dir", help="alert log folder (default ALERTS_DIR, logs/alerts)")
    sp.add_argument("--url", help="database URL (default: DATABASE_URL, else MONTALAQ_DB_PATH's SQLite file)")
    sp.add_argument("--json", action="store_true", help="print as JSON")
    sp.set_defaults(func=status.run)

    mp = sub.add_parser("metrics", help="metrics history: min/mean/max per window")
    mp.add_argument("--metrics-dir", help="snapshot folder (default METRICS_DIR, data/monitoring)")
    mp.add_argument(
        "--since", default="24h", help="a duration back from now (2h, 7d) or an ISO time (default 24h)"
    )
    mp.add_argument("--until", help="end of the period (default now)")
    mp.add_argument("--window", default="1h", help="aggregation window (default 1h)")
    mp.add_argument("--metric", action="append", help="a metric path to show (repeatable; default all)")
    mp.add_argument("--json", action="store_true", help="print as JSON")
    mp.set_defaults(func=metrics.run)

    op = sub.add_parser("outbox", help="notification outbox rows (DEAD letters by default); --requeue")
    op.add_argument("--status", default="DEAD", help="rows of this status (default DEAD)")
    op.add_argument("--channel", help="only this channel")
    op.add_argument("--limit", type=int, default=50, help="how many rows (default 50)")
    op.add_argument("--requeue", action="store_true", help="queue the DEAD rows (of --channel) again")
    op.add_argument("--url", help="database URL (default: DATABASE_URL, else MONTALAQ_DB_PATH's SQLite file)")
    op.add_argument("--json", action="store_true", help="print as JSON")
    op.set_defaults(func=outbox.run)

    hp = sub.add_parser("health", help="run the start-up checks once; exit 1 if any fails")
    hp.add_argument("--url", help="database URL (default: DATABASE_URL, else sqlite:///data/montalaq.db)")
    hp.add_argument("--checks", help="your own checks too: package.module:NAME (list, mapping or factory)")
    hp.add_argument("--timeout", type=float, default=30.0, help="seconds each check may take (default 30)")
    hp.add_argument("--json", action="store_true", help="print as JSON")
    hp.set_defaults(func=health.run)


__all__ = ["add_parsers"]
