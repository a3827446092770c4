"""The ``montalaq`` command. Exit codes: 0 ok, 1 failed check, 2 usage or bad input."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _ingest(engine: Any, trades: Any, args: argparse.Namespace, err: Any) -> tuple[int, float]:
    """Feed ``trades`` to ``engine`` chunk by chunk with a progress bar; ``(bars closed,
    seconds)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    path = args.file or args.sample
    total = len(trades)
    closed_total = 0
    started = time.perf_counter()
    with Progress(
        TextColumn("replay {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=err,
        disable=args.json or (not err.is_terminal and not args.progress),
        transient=True,
    ) as progress:
        task = progress.add_task(str(path), total=total)
        for part in trades.by_symbol():
            n = len(part)
            for lo in range(0, n, args.chunk):
                hi = min(n, lo + args.chunk)
                _, closed = engine.on_trades(
                    part.symbol,
                    part.ts_ns[lo:hi],
                    part.price[lo:hi],
                    part.size[lo:hi],
                    None if part.side is None else part.side[lo:hi],
                    None if part.trade_id is None else part.trade_id[lo:hi],
                )
                closed_total += len(closed)
                progress.advance(task, hi - lo)
    elapsed = time.perf_counter() - started
    if not args.keep_open and total:
        # End of file: close what is still open, as a live feed's clock would eventually.
        from montalaq._time import MAX_TS_NS

        valid = trades.ts_ns[(trades.ts_ns > 0) & (trades.ts_ns <= MAX_TS_NS)]
        if valid.size:
            closed_total += len(engine.advance_time(int(valid.max()) + max(engine.timeframes_ns)))
    return closed_total, elapsed


def _replay(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.markup import escape

    from montalaq import MarketEngine, read_trades, sample_path
    from montalaq._time import iso_utc

    err = Console(stderr=True, soft_wrap=True)  # errors name paths: never wrapped mid-name
    path = args.file or str(sample_path(args.sample))
    try:
        timeframes = [t.strip() for t in args.timeframes.split(",") if t.strip()]
        engine = MarketEngine(timeframes, fill_gaps=args.fill_gaps)
        trades = read_trades(path)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        err.print(f"[red]montalaq replay: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    if args.chunk < 1:
        err.print("[red]montalaq replay: --chunk must be >= 1[/red]")
        return EXIT_USAGE

    total = len(trades)
    try:
        closed_total, elapsed = _ingest(engine, trades, args, err)
    except (ValueError, OverflowError, TypeError) as exc:
        # The file's content is unusable (times out of range, say): a usage error naming
        # it, never a traceback (regression: exit 1 with a traceback).
        err.print(f"[red]montalaq replay: {escape(path)}: {escape(f'{type(exc).__name__}: {exc}')}[/red]")
        return EXIT_USAGE

    report: dict[str, Any] = {
        "file": str(path),
        "trades": total,
        "seconds": round(elapsed, 6),
        "trades_per_s": round(total / elapsed) if elapsed > 0 else None,
        "bars_closed": closed_total,
        "stats": engine.stats(),
        "symbols": {},
    }
    for sym in engine.symbols():
        per_tf: dict[str, Any] = {}
        for tf in engine.timeframes:
            bars = engine.bars(sym, tf)
            last = engine.latest(sym, tf)
            per_tf[tf] = {
                "bars": len(bars),
                "last_bar": None
                if last is None
                else {
                    "start": iso_utc(last.start_ns),
                    "open": last.open,
                    "high": last.high,
                    "low": last.low,
                    "close": last.close,
                    "volume": last.volume,
                    "vwap": last.vwap,
                    "trades": last.trades,
                },
                "features": None
                if last is None
                else {
                    k: (None if not np.isfinite(v) else float(v))
                    for k, v in (
                        ("atr", last.atr),
                        ("mom_bps", last.mom_bps),
                        ("px_vs_vwap_bps", last.px_vs_vwap_bps),
                        ("rvol", last.rvol),
                    )
                },
            }
        report["symbols"][sym] = {"timeframes": per_tf, "stats": engine.stats(sym)}

    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    _print_report(report, str(path), total, elapsed, closed_total)
    return EXIT_OK


def _print_report(report: dict[str, Any], path: str, total: int, elapsed: float, closed_total: int) -> None:
    """The replay summary in 80 columns: per symbol a table of the last bar of each
    timeframe (its close, volume and features; the rest is in ``--json``)."""
    from rich.markup import escape

    from montalaq import cli_table as ct

    out = ct.console()
    out.print(f"[bold]{escape(path)}[/bold]", soft_wrap=True)  # whole, to copy: never wrapped
    out.print(
        f"{total:,} trades in {elapsed:.3f} s ({report['trades_per_s'] or 0:,} trades/s), "
        f"{closed_total:,} bars closed"
    )
    for sym, info in report["symbols"].items():
        table = ct.table(
            escape(sym),
            "tf",
            ct.Col("bars", justify="right"),
            "last bar",
            *(ct.Col(c, 10, justify="right") for c in ("close", "volume", "atr", "mom bps", "rvol")),
        )
        for tf, row in info["timeframes"].items():
            lb = row["last_bar"] or {}
            ft = row["features"] or {}
            table.add_row(
                tf,
                f"{row['bars']:,}",
                _bar_start(lb.get("start")),
                ct.num(lb.get("close")),
                ct.compact(lb.get("volume")),
                ct.num(ft.get("atr"), 4),
                ct.num(ft.get("mom_bps"), 4),
                ct.num(ft.get("rvol"), 3),
            )
        out.print(table)
        st = info["stats"]
        rejected = {k: v for k, v in st.items() if k.startswith("REJECT") and v}
        detail = ", ".join(f"{k.removeprefix('REJECT_').lower()} {v:,}" for k, v in rejected.items())
        out.print(
            f"  accepted {st['ACCEPTED']:,}  rejected {sum(rejected.values()):,}"
            + (f" ({detail})" if detail else "")
            + f"  duplicate {st['DUPLICATE_TICK']:,}  late {st['LATE']:,}  amended {st['AMENDED']:,}"
        )
    out.print("  (UTC; open, high, low, vwap, px_vs_vwap_bps and full precision: --json)")


def _bar_start(iso: str | None) -> str:
    """``MM-DD HH:MM`` of a bar start (``HH:MM:SS`` kept when the seconds are not 0)."""
    if not iso:
        return "-"
    stamp = iso[5:19].replace("T", " ")  # MM-DD HH:MM:SS
    return stamp[:-3] if stamp.endswith(":00") else stamp


def _db_target(args: argparse.Namespace) -> tuple[str, str]:
    """The resolved URL of ``--url`` (default DATABASE_URL, else the SQLite file) and the
    same URL with its password masked; ValueError on a malformed URL."""
    from montalaq.store.engine import mask_url, resolve_url

    try:
        url = resolve_url(args.url)
    except ValueError as exc:
        if args.url is None:
            raise
        # The engine's message names DATABASE_URL; here the URL came from --url.
        raise ValueError(str(exc).replace("DATABASE_URL:", "--url:", 1)) from None
    return url, mask_url(url)


def _scrub(message: str, url: str) -> str:
    """``message`` with the URL's password (if any) replaced by ``***``."""
    from sqlalchemy.engine import make_url

    password = make_url(url).password
    return message.replace(str(password), "***") if password else message


def _db_error(action: str, url: str, shown: str, exc: Exception) -> int:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = _scrub(f"{type(exc).__name__}: {first_line}", url)
    print(f"montalaq db {action}: {shown}: {detail}", file=sys.stderr)
    return EXIT_FAILED


def _db_upgrade(args: argparse.Namespace) -> int:
    from montalaq.store import migrate
    from montalaq.store.engine import make_engine

    try:
        url, shown = _db_target(args)
    except ValueError as exc:
        print(f"montalaq db upgrade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = make_engine(url)
    try:
        before = migrate.current_revision(engine)
        reached = migrate.upgrade(engine)
    except Exception as exc:  # unreachable server, unknown revision, ...: reported, never a traceback
        return _db_error("upgrade", url, shown, exc)
    finally:
        engine.dispose()
    if before == reached:
        print(f"{shown}: already at revision {reached} (head)")
    else:
        print(f"{shown}: upgraded from {before or 'an empty database'} to revision {reached} (head)")
    return EXIT_OK


def _db_current(args: argparse.Namespace) -> int:
    from montalaq.store import migrate

    try:
        url, shown = _db_target(args)
    except ValueError as exc:
        print(f"montalaq db current: {exc}", file=sys.stderr)
        return EXIT_USAGE
    head = migrate.head_revision()
    try:
        current = migrate.revision_at(url)
    except Exception as exc:
        return _db_error("current", url, shown, exc)
    print(f"database: {shown}")
    print(f"current: {current or 'none'}")
    print(f"head: {head}")
    if current != head:
        print("the schema is not at head: run `montalaq db upgrade`", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from montalaq import bench

    results = bench.run(quick=args.quick)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(
            f"montalaq {montalaq_version()} built-in benchmarks on the bundled sample"
            " (ratio: how many times faster than the peer)"
        )
        print(bench.render(results))
    return EXIT_OK


def montalaq_version() -> str:
    from montalaq import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from montalaq import __version__

    parser = argparse.ArgumentParser(prog="montalaq", description="montalaq operator CLI")
    parser.add_argument("--version", action="version", version=f"montalaq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="stream a trade file through the market engine and summarise")
    rp.add_argument(
        "file", nargs="?", help="trade file (CSV, CSV.gz, Parquet, Lean ticks); default: bundled sample"
    )
    rp.add_argument(
        "--sample", default="spy", choices=["spy", "btcusdt"], help="bundled sample when FILE is omitted"
    )
    rp.add_argument(
        "--timeframes", default="1m,5m,15m", help="comma-separated timeframes (default 1m,5m,15m)"
    )
    rp.add_argument("--chunk", type=int, default=50_000, help="trades per ingest call (default 50000)")
    rp.add_argument("--fill-gaps", action="store_true", help="emit flat bars for empty intervals")
    rp.add_argument("--keep-open", action="store_true", help="do not close the last open bars at end of file")
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    rp.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not on a terminal"
    )
    rp.set_defaults(func=_replay)

    db = sub.add_parser("db", help="database schema: apply migrations, show the revision")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    url_help = "SQLAlchemy URL (default: DATABASE_URL, else sqlite:///data/montalaq.db)"
    up = db_sub.add_parser("upgrade", help="apply every pending migration; prints the revision reached")
    up.add_argument("--url", help=url_help)
    up.set_defaults(func=_db_upgrade)
    cur = db_sub.add_parser("current", help="print the current and head revisions; exit 1 if not at head")
    cur.add_argument("--url", help=url_help)
    cur.set_defaults(func=_db_current)

    bp = sub.add_parser("bench", help="built-in benchmarks on the bundled sample, against installed peers")
    bp.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes (seconds)")
    bp.add_argument("--json", action="store_true", help="print the results as JSON")
    bp.set_defaults(func=_bench)

    from montalaq.cli_ops import add_parsers
    from montalaq.cli_serve import add_parsers as add_serve_parser

    add_parsers(sub)
    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``montalaq`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
