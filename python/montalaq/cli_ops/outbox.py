"""``montalaq outbox``: the notification outbox's rows of one status, DEAD by default, and
``--requeue`` to send the dead letters again (docs/operations.md, "Notifications")."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from montalaq import cli_table as ct
from montalaq.cli_ops.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, clip, jsonable


def run(args: argparse.Namespace) -> int:
    """``montalaq outbox``: the outbox's rows of one status (DEAD by default: the dead
    letters an operator looks at), and ``--requeue`` to send the DEAD ones again."""
    from rich.markup import escape

    from montalaq.store import Store
    from montalaq.store.engine import resolve_url
    from montalaq.store.outbox import STATUSES

    status = args.status.upper()
    if status not in STATUSES:
        print(
            f"montalaq outbox: --status: expected one of {', '.join(STATUSES)}, got {args.status!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 1 <= args.limit <= 10_000:
        print(f"montalaq outbox: --limit: expected 1..10000, got {args.limit}", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = Store(resolve_url(args.url), auto_migrate=False)
        try:
            if args.requeue:
                n = store.outbox.requeue_dead(datetime.now(UTC), channel=args.channel)
                print(f"montalaq outbox: {n} DEAD row(s) queued again")
                return EXIT_OK
            counts = store.outbox.counts()
            rows = store.outbox.rows(channel=args.channel, status=status, limit=args.limit)
        finally:
            store.close()
    except Exception as exc:
        print(
            f"montalaq outbox: the database: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    docs = [
        {
            "id": r.id,
            "channel": r.channel,
            "kind": r.kind,
            "created_at": r.created_at,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "title": r.payload.get("title"),
        }
        for r in rows
    ]
    if args.json:
        print(json.dumps({"counts": counts, "rows": jsonable(docs)}, indent=2))
        return EXIT_OK
    out = ct.console()
    out.print("outbox: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    t = ct.table(
        f"{status} rows ({len(docs)} shown)",
        ct.Col("id", justify="right"),
        "created (UTC)",
        ct.Col("channel", 12),
        ct.Col("tries", justify="right"),
        ct.Col("title / last error", 29, wrap=True),
    )
    for r in rows:
        text = escape(clip(str(r.payload.get("title") or "-"), 58))
        if r.last_error:
            text += f"\n[dim]error: {escape(clip(str(r.last_error), 80))}[/]"
        t.add_row(str(r.id), ct.minute(r.created_at), escape(str(r.channel)), str(r.attempts), text)
    out.print(t)
    return EXIT_OK


__all__ = ["run"]
