"""``montalaq metrics``: the metrics snapshots aggregated per window, min/mean/max per
metric (docs/semantics.md, "Operator CLI")."""

from __future__ import annotations

import argparse
import json
import sys

from montalaq import cli_table as ct
from montalaq.cli_ops.common import EXIT_OK, EXIT_USAGE, fill_dirs, jsonable, when


def run(args: argparse.Namespace) -> int:
    """Print one row per window and metric over ``--since``..``--until`` (or ``--json``)."""
    from rich.markup import escape

    from montalaq.monitoring.history import MetricsHistory, aggregate
    from montalaq.timeframes import parse_timeframe

    try:
        since = when(args.since, "--since")
        until = when(args.until, "--until")
        window_s = parse_timeframe(args.window) / 1e9
    except ValueError as exc:
        print(f"montalaq metrics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fill_dirs(args)
    samples = MetricsHistory(args.metrics_dir).read(since, until)
    wanted = args.metric or None
    rows = aggregate(samples, window_s, wanted)
    if args.json:
        print(json.dumps({"samples": len(samples), "windows": jsonable(rows)}, indent=2))
        return EXIT_OK
    out = ct.console()
    if not rows:
        out.print(
            f"no metrics snapshots in {args.metrics_dir}"
            + (f" since {since:%Y-%m-%d %H:%M}Z" if since else "")
        )
        return EXIT_OK
    names = wanted or sorted({m for r in rows for m in r["metrics"]})
    # One row per (window, metric): a table as wide as the metrics are many would not fit.
    t = ct.table(
        f"{len(samples)} snapshots, {args.window} windows (UTC)",
        "window",
        ct.Col("metric", 23),
        *(ct.Col(c, 10, justify="right") for c in ("min", "mean", "max")),
    )
    for r in rows:
        first = True
        for name in names:
            m = r["metrics"].get(name)
            if m is None:
                continue
            t.add_row(
                ct.minute(r["window_start"]) if first else "",
                escape(ct.middle(name, 23)),
                *(ct.num(m[k], 4) for k in ("min", "mean", "max")),
            )
            first = False
    out.print(t)
    return EXIT_OK


__all__ = ["run"]
