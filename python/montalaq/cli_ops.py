"""Operator commands of ``montalaq``: ``tail``, ``status``, ``metrics`` (and ``health``,
wired by :mod:`montalaq.cli`). Tables and colours with rich; ``--json`` for scripts. They
read the same places as ``montalaq serve`` by default: ``ALERTS_DIR``, ``METRICS_DIR`` and
the database of ``DATABASE_URL``/``MONTALAQ_DB_PATH``.

Exit codes: 0 ok, 1 failed check (``status``: the process is in ERROR, an unacknowledged
CRITICAL alert is firing, or the database does not answer), 2 usage or bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from montalaq import cli_table as ct

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_STYLE = {"INFO": "cyan", "WARNING": "yellow", "CRITICAL": "bold red"}


def _when(text: str | None, name: str) -> datetime | None:
    """``--since 2h`` (a duration back from now) or an ISO-8601 time (``Z`` or offset)."""
    if text is None:
        return None
    from montalaq.timeframes import parse_timeframe

    try:
        return datetime.now(UTC) - timedelta(microseconds=parse_timeframe(text) // 1000)
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}: expected a duration such as 2h, 30m, 7d or an ISO-8601 time, got {text!r}"
        ) from None
    if ts.tzinfo is None:
        raise ValueError(f"{name}: an ISO time needs a time zone (Z or +hh:mm), got {text!r}")
    return ts.astimezone(UTC)


def _dirs(args: argparse.Namespace) -> None:
    """Fill ``--alerts-dir``/``--metrics-dir`` not given from ``ALERTS_DIR``/``METRICS_DIR``."""
    from montalaq.settings import Settings

    if getattr(args, "alerts_dir", "") is None or getattr(args, "metrics_dir", "") is None:
        settings = Settings.from_env()
        if getattr(args, "alerts_dir", "") is None:
            args.alerts_dir = settings.alerts_dir
        if getattr(args, "metrics_dir", "") is None:
            args.metrics_dir = settings.metrics_dir


def _alert_row(a: Any) -> dict[str, Any]:
    d: dict[str, Any] = a.to_dict()
    return d


def _tail(args: argparse.Namespace) -> int:
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
    _dirs(args)
    log = AlertLog(args.alerts_dir)

    def keep(a: Any) -> bool:
        return (severity is None or order[a.severity] >= order[severity]) and (
            args.rule is None or a.rule == args.rule
        )

    def show(a: Any) -> None:
        if args.json:
            print(json.dumps(_alert_row(a)), flush=True)
            return
        state = a.state
        style = "green" if state == "RESOLVED" else _STYLE.get(a.severity, "")
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


def _status(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from montalaq.monitoring.alerts import AlertLog

    _dirs(args)
    active = AlertLog(args.alerts_dir).active()
    state: dict[str, Any] | None = None
    pairs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    outbox: dict[str, Any] | None = None
    db_error: str | None = None
    try:
        state, pairs, errors, outbox = _read_store(args.url)
    except Exception as exc:  # say so, show the alerts anyway, and fail the probe
        db_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    failing = (
        db_error is not None
        or (state is not None and state.get("state") == "ERROR")
        or any(a.severity == "CRITICAL" and not a.acknowledged for a in active)
    )
    if args.json:
        doc = {
            "operational_state": _jsonable(state),
            "active_alerts": [_alert_row(a) for a in active],
            "pairs": _jsonable(pairs),
            "errors": _jsonable(errors),
            "outbox": _jsonable(outbox),
            "database_error": db_error,
        }
        print(json.dumps(doc, indent=2))
        return EXIT_FAILED if failing else EXIT_OK
    out = ct.console()
    if state is not None:
        colour = {"ACTIVE": "green", "WAITING": "yellow", "ERROR": "bold red"}.get(str(state["state"]), "")
        out.print(
            f"state: [{colour}]{state['state']}[/] since {state['entered_at']:%Y-%m-%d %H:%M:%S}Z"
            + (f" ({escape(str(state['reason']))})" if state.get("reason") else "")
        )
    else:
        out.print(
            "state: unknown" + (f" (database: {escape(db_error)})" if db_error else " (no state recorded)")
        )
    out.print(_alerts_table(active))
    out.print(_pairs_table(pairs))
    if outbox is not None:
        oldest = outbox["oldest_waiting_at"]
        out.print(
            f"notifications: {outbox['pending']} pending, {outbox['folded']} folded, {outbox['dead']} dead"
            + ("" if oldest is None else f", oldest waiting since {oldest:%Y-%m-%d %H:%M:%S}Z")
        )
    open_errors = [e for e in errors if not e["is_resolved"]]
    e = ct.table(
        f"open errors ({len(open_errors)} of {len(errors)} types)",
        ct.Col("type", 24),
        "since (UTC)",
        ct.Col("count", justify="right"),
        ct.Col("message", 25, wrap=True),
    )
    for row in open_errors:
        e.add_row(
            escape(str(row["error_type"])),
            ct.minute(row.get("open_since")),
            f"{row['occurrence_count']:,}",
            escape(_clip(str(row["error_message"]), 100)),
        )
    out.print(e)
    return EXIT_FAILED if failing else EXIT_OK


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (a wrapped cell stays a few lines)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alerts_table(active: list[Any]) -> Any:
    """The active alerts, 80 columns wide; an acknowledged alert's message starts "(acked)"."""
    from rich.markup import escape

    t = ct.table(
        f"active alerts ({len(active)})",
        "since (UTC)",
        "severity",
        ct.Col("rule", 22),
        ct.Col("message", 26, wrap=True),
    )
    for a in active:
        t.add_row(
            ct.minute(a.timestamp),
            f"[{_STYLE.get(a.severity, '')}]{a.severity}[/]",
            escape(a.rule),
            ("(acked) " if a.acknowledged else "") + escape(_clip(a.message, 130)),
        )
    return t


def _pairs_table(pairs: list[dict[str, Any]]) -> Any:
    """Every pair's health in 80 columns: freshness/level in one cell; the provider in the
    title when all pairs share it, else under the symbol."""
    from rich.markup import escape

    providers = {str(r.get("provider") or "-") for r in pairs}
    shared = providers.pop() if len(providers) == 1 else None
    title = f"pairs ({len(pairs)}" + (f"; provider {shared})" if shared not in (None, "-") else ")")
    p = ct.table(
        escape(title),
        ct.Col("symbol", 10),
        "tf",
        ct.Col("fresh/level", 15),
        "breaker",
        ct.Col("last error", 15),
        "last signal",
    )
    for row in pairs:
        symbol = escape(str(row["symbol"]))
        if shared is None:
            symbol += f"\n[dim]{escape(str(row.get('provider') or '-'))}[/]"
        health = f"{row.get('freshness') or '-'}/{row.get('escalation_level') or '-'}"
        p.add_row(
            symbol,
            escape(str(row["timeframe"])),
            escape(health),
            "[bold red]OPEN[/]" if row.get("breaker_open") else "closed",
            escape(str(row.get("last_error_code") or "-")),
            ct.minute(row.get("last_signal_bar_ts")),
        )
    return p


def _read_store(
    url: str | None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """``(operational state, status rows, error summary, outbox backlog)`` of the database."""
    from sqlalchemy.engine import make_url

    from montalaq.store import Store
    from montalaq.store.engine import resolve_url

    resolved = resolve_url(url)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return None, [], [], None  # a read-only question: never create the database by asking
    store = Store(resolved, auto_migrate=False)
    try:
        return (
            store.load_operational_state(),
            store.ingestion_status(),
            store.error_summary(),
            store.outbox.backlog(),
        )
    finally:
        store.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _metrics(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from montalaq.monitoring.history import MetricsHistory, aggregate
    from montalaq.timeframes import parse_timeframe

    try:
        since = _when(args.since, "--since")
        until = _when(args.until, "--until")
        window_s = parse_timeframe(args.window) / 1e9
    except ValueError as exc:
        print(f"montalaq metrics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _dirs(args)
    samples = MetricsHistory(args.metrics_dir).read(since, until)
    wanted = args.metric or None
    rows = aggregate(samples, window_s, wanted)
    if args.json:
        print(json.dumps({"samples": len(samples), "windows": _jsonable(rows)}, indent=2))
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


def _outbox(args: argparse.Namespace) -> int:
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
        print(json.dumps({"counts": counts, "rows": _jsonable(docs)}, indent=2))
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
        text = escape(_clip(str(r.payload.get("title") or "-"), 58))
        if r.last_error:
            text += f"\n[dim]error: {escape(_clip(str(r.last_error), 80))}[/]"
        t.add_row(str(r.id), ct.minute(r.created_at), escape(str(r.channel)), str(r.attempts), text)
    out.print(t)
    return EXIT_OK


def _load_checks(spec: str) -> list[Any]:
    """``package.module:NAME`` -> the user's checks (a list of StartupCheck, or a mapping
    name -> callable, or a callable returning either)."""
    import importlib

    from montalaq.lifecycle import StartupCheck

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--checks: expected package.module:NAME, got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--checks: cannot load {spec!r}: {exc}") from None
    if callable(obj) and not isinstance(obj, StartupCheck):
        obj = obj()
    if isinstance(obj, dict):
        return [StartupCheck(str(k), v) for k, v in obj.items()]
    items = list(obj)
    if not all(isinstance(c, StartupCheck) for c in items):
        raise ValueError(f"--checks: {spec!r} must be StartupCheck objects or a mapping name -> callable")
    return items


def _health(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from sqlalchemy.engine import make_url

    from montalaq.lifecycle import CheckResult, StartupCheck, builtin_checks, run_check
    from montalaq.settings import Settings, SettingsError
    from montalaq.store import Store

    try:
        settings = Settings.from_env()
        extra = _load_checks(args.checks) if args.checks else []
        url = args.url or settings.database_url_value
        parsed = make_url(url)
    except (SettingsError, ValueError) as exc:
        print(f"montalaq health: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = None
    checks: list[Any] = []
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        missing = f"no database file at {parsed.database}: run `montalaq db upgrade`"
        checks.append(StartupCheck("database", lambda: CheckResult.permanent(missing)))
    else:
        store = Store(url, auto_migrate=False)
    try:
        checks += builtin_checks(settings, store) + extra
        results = [(c.name, run_check(c, timeout_s=args.timeout)) for c in checks]
    finally:
        if store is not None:
            store.close()
    failed = [name for name, r in results if not r.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": {name: r.to_dict() for name, r in results}}, indent=2))
        return EXIT_FAILED if failed else EXIT_OK
    out = ct.console()
    t = ct.table("health checks", ct.Col("check", 20), "result", "kind", ct.Col("detail", 32, wrap=True))
    for name, r in results:
        verdict = "[green]ok[/]" if r.ok else "[bold red]FAILED[/]"
        kind = "" if r.kind is None else r.kind.name
        t.add_row(escape(name), verdict, kind, escape(r.detail))
    out.print(t)
    return EXIT_FAILED if failed else EXIT_OK


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
    tp.set_defaults(func=_tail)

    sp = sub.add_parser("status", help="operational state, active alerts, pairs and breakers")
    sp.add_argument("--alerts-dir", help="alert log folder (default ALERTS_DIR, logs/alerts)")
    sp.add_argument("--url", help="database URL (default: DATABASE_URL, else MONTALAQ_DB_PATH's SQLite file)")
    sp.add_argument("--json", action="store_true", help="print as JSON")
    sp.set_defaults(func=_status)

    mp = sub.add_parser("metrics", help="metrics history: min/mean/max per window")
    mp.add_argument("--metrics-dir", help="snapshot folder (default METRICS_DIR, data/monitoring)")
    mp.add_argument(
        "--since", default="24h", help="a duration back from now (2h, 7d) or an ISO time (default 24h)"
    )
    mp.add_argument("--until", help="end of the period (default now)")
    mp.add_argument("--window", default="1h", help="aggregation window (default 1h)")
    mp.add_argument("--metric", action="append", help="a metric path to show (repeatable; default all)")
    mp.add_argument("--json", action="store_true", help="print as JSON")
    mp.set_defaults(func=_metrics)

    op = sub.add_parser("outbox", help="notification outbox rows (DEAD letters by default); --requeue")
    op.add_argument("--status", default="DEAD", help="rows of this status (default DEAD)")
    op.add_argument("--channel", help="only this channel")
    op.add_argument("--limit", type=int, default=50, help="how many rows (default 50)")
    op.add_argument("--requeue", action="store_true", help="queue the DEAD rows (of --channel) again")
    op.add_argument("--url", help="database URL (default: DATABASE_URL, else MONTALAQ_DB_PATH's SQLite file)")
    op.add_argument("--json", action="store_true", help="print as JSON")
    op.set_defaults(func=_outbox)

    hp = sub.add_parser("health", help="run the start-up checks once; exit 1 if any fails")
    hp.add_argument("--url", help="database URL (default: DATABASE_URL, else sqlite:///data/montalaq.db)")
    hp.add_argument("--checks", help="your own checks too: package.module:NAME (list, mapping or factory)")
    hp.add_argument("--timeout", type=float, default=30.0, help="seconds each check may take (default 30)")
    hp.add_argument("--json", action="store_true", help="print as JSON")
    hp.set_defaults(func=_health)


__all__ = ["add_parsers"]
