"""``montalaq tail``: today's alerts, then the new ones as they are written
(docs/semantics.md, "Operator CLI")."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from montalaq import cli_table as ct
from montalaq.cli_ops.common import EXIT_OK, EXIT_USAGE, STYLE, alert_row, fill_dirs


def run(args: argparse.Namespace) -> int:
    """Print the last ``--lines`` alerts kept by the filters, then follow (unless ``--once``)."""
    from rich.markup import escape

    from montalaq.monitoring.alerts import SEVERITIES, AlertLog

    severity = args.severity.upper() if args.severity else None
    if severity is not None and severity not in SEVERITIES:
        print(
            f"montalaq tail: --severity: expected one of {', '.join(SEVERITIES)}, got {args.severity!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    order = {s: i for i, s in enumerate(SEVERITIES)}
    out = ct.console()
    fill_dirs(args)
    log = AlertLog(args.alerts_dir)

    def keep(a: Any) -> bool:
        return (severity is None or order[a.severity] >= order[severity]) and (
            args.rule is None or a.rule == args.rule
        )

    def show(a: Any) -> None:
        if args.json:
            print(json.dumps(alert_row(a)), flush=True)
            return
        state = a.state
        style = "green" if state == "RESOLVED" else STYLE.get(a.severity, "")
        out.print(
            f"{a.timestamp:%Y-%m-%d %H:%M:%S}Z [{style}]{a.severity:<8} {state:<8}[/] "
            f"{escape(a.rule)}: {escape(a.message)}" + (" (acked)" if a.acknowledged else ""),
        )
        sys.stdout.flush()

    if args.lines:
        for a in [a for a in log.read() if keep(a)][-args.lines :]:
            show(a)
    if args.once:
        return EXIT_OK
    stop = threading.Event()

    def started() -> None:
        # On a terminal say that it is following (stderr, so pipes see alerts only): a
        # person, or a test under a pty, knows from here on nothing appended is missed.
        if sys.stderr.isatty():
            print(f"following {args.alerts_dir} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    try:
        for a in log.follow(poll_s=args.poll, stop=stop, on_start=started):
            if keep(a):
                show(a)
    except KeyboardInterrupt:
        stop.set()
    return EXIT_OK


__all__ = ["run"]
