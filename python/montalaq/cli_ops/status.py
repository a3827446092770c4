"""``montalaq status``: the operational state, the active alerts, every pair's ingestion
status and breaker, the outbox and the open errors; exit 1 when something needs a person
(docs/semantics.md, "Operator CLI")."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from montalaq import cli_table as ct
from montalaq.cli_ops.common import EXIT_FAILED, EXIT_OK, STYLE, alert_row, clip, fill_dirs, jsonable

if TYPE_CHECKING:
    from montalaq.shapes import ErrorTypeSummary, IngestionRow, OperationalStateRow, OutboxBacklog


def run(args: argparse.Namespace) -> int:
    """Print the status (or ``--json``); exit 1 in ERROR, on an unacknowledged CRITICAL alert
    or when the database does not answer."""
    from rich.markup import escape

    from montalaq.monitoring.alerts import AlertLog

    fill_dirs(args)
    active = AlertLog(args.alerts_dir).active()
    state: OperationalStateRow | None = None
    pairs: list[IngestionRow] = []
    errors: list[ErrorTypeSummary] = []
    outbox: OutboxBacklog | None = None
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
            "operational_state": jsonable(state),
            "active_alerts": [alert_row(a) for a in active],
            "pairs": jsonable(pairs),
            "errors": jsonable(errors),
            "outbox": jsonable(outbox),
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
            escape(clip(str(row["error_message"]), 100)),
        )
    out.print(e)
    return EXIT_FAILED if failing else EXIT_OK


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
            f"[{STYLE.get(a.severity, '')}]{a.severity}[/]",
            escape(a.rule),
            ("(acked) " if a.acknowledged else "") + escape(clip(a.message, 130)),
        )
    return t


def _pairs_table(pairs: list[IngestionRow]) -> Any:
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
) -> tuple[OperationalStateRow | None, list[IngestionRow], list[ErrorTypeSummary], OutboxBacklog | None]:
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


__all__ = ["run"]
