"""The operating cycle, written once: what every montalaq process does each cycle with the
board, the pairs' last error codes, events, notifications, status rows, provider errors
and agents. The one-process service (:mod:`montalaq.service`) and the Celery tasks
(:mod:`montalaq.celery`) are adapters that say where the state lives (memory and the store,
or Redis and the store); see docs/architecture.md, "One cycle".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from montalaq._time import datetime_utc
from montalaq.correlation import correlation_scope
from montalaq.errors import ErrorCode, error_code_for
from montalaq.notify.message import Severity
from montalaq.shapes import EscalationEvent, EventDoc
from montalaq.store import schema

if TYPE_CHECKING:
    from montalaq.agents import AgentRegistry
    from montalaq.engine import MarketEngine
    from montalaq.health import EscalationBoard
    from montalaq.llm import LLMAnalyst
    from montalaq.notify.notifier import Notifier
    from montalaq.records import Finding
    from montalaq.settings import Settings
    from montalaq.store import Store

log = logging.getLogger("montalaq.cycle")

_NS = 1_000_000_000
FRESHNESS_CODE = "FRESHNESS_THRESHOLD_EXCEEDED"
Pair = tuple[str, str]
ErrorMap = Mapping[Pair, tuple[int, str]]
"""(symbol, timeframe) -> (recorded at, int ns; error code name): each pair's last error."""

_LEVEL_SEVERITY = {
    "INFO": Severity.INFO,
    "WARN": Severity.WARNING,
    "ERROR": Severity.CRITICAL,
    "CRITICAL": Severity.CRITICAL,
}


def code_name(exc: BaseException) -> str:
    """The error code name the taxonomy gives ``exc`` (``PROVIDER_DISCONNECTED``, ...)."""
    code = error_code_for(exc)
    return code.name if isinstance(code, ErrorCode) else str(code)


# ------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventNotification:
    """How a board event (level change, breaker open/close) is worded as a notification:
    the arguments of :meth:`montalaq.notify.Notifier.notify`."""

    kind: str
    title: str
    body: str
    severity: Severity
    fields: dict[str, Any]
    error_code: str | None
    idempotency_key: str

    def send(self, notifier: Notifier) -> None:
        """Queue it in ``notifier``'s outbox (raises what ``notify`` raises)."""
        notifier.notify(
            self.kind,
            self.title,
            self.body,
            severity=self.severity,
            fields=self.fields,
            error_code=self.error_code,
            idempotency_key=self.idempotency_key,
        )


def event_notification(event: EventDoc, error_code: str | None, provider: str | None) -> EventNotification:
    """``event``: one of ``EscalationBoard.evaluate``'s events; ``error_code``: the pair's
    last error (dropped on a return to INFO and on a breaker close, which report recovery).
    The idempotency key is the event itself, so a notification queued again after a crash
    is dropped by the outbox."""
    sym, tf, kind = event["symbol"], event["timeframe"], event["kind"]
    code = error_code
    if kind == "level":
        title = f"{sym} {tf}: escalation {event['old']} -> {event['new']}"
        severity = _LEVEL_SEVERITY.get(str(event["new"]), Severity.WARNING)
        notify_kind = "escalation"
        if event["new"] == "INFO":
            code = None
    elif kind == "breaker_open":
        title, severity, notify_kind = f"{sym} {tf}: breaker opened", Severity.CRITICAL, "breaker"
    else:
        title, severity, notify_kind = f"{sym} {tf}: breaker closed", Severity.INFO, "breaker"
        code = None
    at_ns = int(event["at_ns"])
    fields = {
        "symbol": sym,
        "timeframe": tf,
        "event": kind,
        "old": event["old"],
        "new": event["new"],
        "at": datetime_utc(at_ns).isoformat().replace("+00:00", "Z"),
        "provider": provider,
    }
    return EventNotification(
        kind=notify_kind,
        title=title,
        body=str(event["reason"]),
        severity=severity,
        fields=fields,
        error_code=code,
        idempotency_key=f"{notify_kind}-{sym}-{tf}-{kind}-{event['new']}-{at_ns}"[:128],
    )


def notify_event(
    notifier: Notifier, event: EventDoc, last_error: tuple[int, str] | None, provider: str | None
) -> None:
    """Queue one event's notification with the pair's last error code (raises what
    ``notify`` raises)."""
    code = (last_error[1] if last_error is not None else None) or event.get("last_error_code") or None
    with correlation_scope():
        event_notification(event, code, provider).send(notifier)


def event_doc(event: EventDoc) -> EventDoc:
    """The JSON-ready fields of an event (kept, sent between processes, returned)."""
    return {
        "kind": event["kind"],
        "symbol": event["symbol"],
        "timeframe": event["timeframe"],
        "old": event["old"],
        "new": event["new"],
        "reason": event["reason"],
        "at_ns": int(event["at_ns"]),
        "last_error_code": event.get("last_error_code"),
    }


def log_event(event: EventDoc, component: str) -> None:
    """One log line per event: WARNING for a breaker opening or a level above INFO."""
    log.log(
        logging.WARNING if event["kind"] == "breaker_open" or event["new"] != "INFO" else logging.INFO,
        "%s %s: %s %s -> %s (%s)",
        event["symbol"],
        event["timeframe"],
        event["kind"],
        event["old"],
        event["new"],
        event["reason"],
        extra={"component": component, "symbol": event["symbol"], "timeframe": event["timeframe"]},
    )


# ------------------------------------------------------------------------------ last errors


def freshness_codes(
    not_green: Iterable[Pair], errors: ErrorMap, since_ns: int, now_ns: int
) -> dict[Pair, tuple[int, str]]:
    """``FRESHNESS_THRESHOLD_EXCEEDED`` at ``now_ns`` for the pairs an evaluation found AMBER
    or RED, unless an analysis failure or a provider error was recorded for the pair since
    the previous evaluation (``since_ns``): that says more. A pair already carrying the
    freshness code keeps it (and its time)."""
    out: dict[Pair, tuple[int, str]] = {}
    for pair in not_green:
        err = errors.get(pair)
        if err is None or (err[0] < since_ns and err[1] != FRESHNESS_CODE):
            out[pair] = (now_ns, FRESHNESS_CODE)
    return out


# ------------------------------------------------------------------------------ status rows


@dataclass
class StatusRow:
    """One ``ingestion_status`` row to upsert (times int ns; None where unknown)."""

    symbol: str
    timeframe: str
    provider: str | None
    freshness: str
    last_tick_ns: int | None
    escalation_level: str
    breaker_open: bool
    last_error_code: str | None


def status_rows(
    board: EscalationBoard,
    now_ns: int,
    pairs: Iterable[Pair] | None,
    *,
    last_tick: Callable[[str], int | None],
    errors: ErrorMap,
    provider_of: Callable[[str], str | None],
) -> list[StatusRow]:
    """The status rows of ``pairs`` (None: every pair of the board) as the board has them
    at ``now_ns``, with each pair's last trade, last error code and provider."""
    rows = board.pairs(now_ns) if pairs is None else [board.pair(s, tf, now_ns) for s, tf in pairs]
    out: list[StatusRow] = []
    for r in rows:
        sym, tf = str(r["symbol"]), str(r["timeframe"])
        err = errors.get((sym, tf))
        out.append(
            StatusRow(
                sym,
                tf,
                provider_of(sym),
                str(r["freshness"]),
                last_tick(sym) or None,
                str(r["escalation_level"]),
                bool(r["breaker_open"]),
                err[1] if err is not None else (r.get("last_error_code") or None),
            )
        )
    return out


def upsert_status(store: Store, values: Sequence[Mapping[str, Any]]) -> int:
    """Upsert ``ingestion_status`` rows in one statement (executemany); every row has the
    same columns (symbol, timeframe and any of the others); columns not given keep their
    values. Returns how many rows."""
    if not values:
        return 0
    store.ensure_schema()
    t = schema.ingestion_status
    ins = pg_insert(t) if store.dialect == "postgresql" else sqlite_insert(t)
    cols = [k for k in values[0] if k not in ("symbol", "timeframe")]
    stmt = ins.on_conflict_do_update(
        index_elements=["symbol", "timeframe"], set_={k: ins.excluded[k] for k in cols}
    )
    with store.engine.begin() as conn:
        conn.execute(stmt, [dict(v) for v in values])
    return len(values)


def write_status(store: Store, rows: Iterable[StatusRow], now_ns: int) -> int:
    """Upsert full status rows (see :func:`upsert_status`); returns how many."""
    return upsert_status(
        store,
        [
            {
                "symbol": r.symbol,
                "timeframe": r.timeframe,
                "provider": r.provider,
                "freshness": r.freshness,
                "last_tick_at": None if not r.last_tick_ns else datetime_utc(r.last_tick_ns),
                "escalation_level": r.escalation_level,
                "breaker_open": bool(r.breaker_open),
                "last_error_code": r.last_error_code,
                "updated_at": datetime_utc(now_ns),
            }
            for r in rows
        ],
    )


# ------------------------------------------------------------------------------ escalation


class BoardHost(Protocol):
    """Where one escalation's inputs come from and its results go (an adapter)."""

    component: str

    def ticks(self) -> Any:
        """What ``EscalationBoard.evaluate`` takes as last trade times (an engine, a mapping
        or an int64 array per board index)."""
        ...

    def last_errors(self) -> dict[Pair, tuple[int, str]]:
        """Each pair's last error before this evaluation."""
        ...

    def previous_eval_ns(self) -> int:
        """When the previous evaluation ran (0: never)."""
        ...

    def not_green(self, now_ns: int, ticks: Any, events: Sequence[EventDoc]) -> Iterable[Pair]:
        """The pairs this evaluation found AMBER or RED (among those whose status it
        writes; ``events`` are the evaluation's)."""
        ...

    def commit(self, events: Sequence[EscalationEvent], new_errors: ErrorMap, now_ns: int) -> None:
        """Keep the evaluation: the board, its events (to notify), the new last errors and
        the evaluation time. Raising drops the evaluation (nothing is notified)."""
        ...

    def notify(self, errors: ErrorMap) -> int:
        """Queue the committed events' notifications; how many were queued."""
        ...


@dataclass
class Escalation:
    """What one evaluation did: its events, every pair's last error after it, the errors it
    added (freshness codes) and how many notifications it queued."""

    now_ns: int
    events: list[EscalationEvent]
    errors: dict[Pair, tuple[int, str]]
    added: dict[Pair, tuple[int, str]]
    notified: int


def escalate(board: EscalationBoard, host: BoardHost, now_ns: int) -> Escalation:
    """One board evaluation at ``now_ns``: the events, the freshness codes of the pairs not
    GREEN (:func:`freshness_codes`), the commit, the notifications, one log line per event.
    Status rows are the caller's (:func:`status_rows`): which rows a process rewrites is its
    own trade-off."""
    ticks = host.ticks()
    with correlation_scope():
        events = board.evaluate(now_ns, ticks)
        errors = host.last_errors()
        not_green = host.not_green(now_ns, ticks, events)
        added = freshness_codes(not_green, errors, host.previous_eval_ns(), now_ns)
        merged = {**errors, **added}
        host.commit(events, added, now_ns)
        notified = host.notify(merged)
    for e in events:
        log_event(e, host.component)
    return Escalation(now_ns, events, merged, added, notified)


# ------------------------------------------------------------------------------ provider errors


def provider_failed(
    notifier: Notifier | None,
    provider: str,
    symbols: Sequence[str],
    exc: BaseException,
    *,
    first: bool,
    component: str,
) -> str:
    """A provider's call failed: log it (WARNING for the first failure of an outage, DEBUG
    while it goes on) and report its code to the notifier's error throttle; returns the
    code. The caller records it as the last error of the provider's pairs."""
    name = code_name(exc)
    log.log(
        logging.WARNING if first else logging.DEBUG,
        "provider %s (%s) failed: %s: %s (%s)",
        provider,
        ", ".join(symbols),
        type(exc).__name__,
        exc,
        name,
        extra={"component": component, "provider": provider, "error_code": name},
    )
    if notifier is not None:
        try:
            notifier.report_error(
                name, f"provider {provider} ({', '.join(symbols)}): {type(exc).__name__}: {exc}"
            )
        except Exception:
            log.exception("could not report the provider error", extra={"component": component})
    return name


# ------------------------------------------------------------------------------ channels


def channel_error_type(channel: str) -> str:
    """The error type of a notification channel's outage: ``CHANNEL_<NAME>``."""
    return f"CHANNEL_{channel.upper()}"


def channel_changes(notifier: Notifier, failing_before: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(opened, closed)``: the channels whose breaker is not CLOSED now and was not
    failing before, and those failing before whose breaker is CLOSED again. The caller
    reports each opened one (:func:`channel_error_type`, through the error throttle: one
    notification per episode) and resolves each closed one (one recovery message); a
    channel outage does not move the operational state (docs/semantics.md)."""
    before = set(failing_before)
    now_ns = notifier.clock()
    failing = {name for name, b in notifier.breakers.items() if b.state(now_ns).name != "CLOSED"}
    return sorted(failing - before), sorted(before - failing)


# ------------------------------------------------------------------------------ agents


def run_agents(
    registry: AgentRegistry,
    names: Sequence[str],
    engine: MarketEngine,
    symbols: Sequence[str],
    now_ns: int,
    settings: Settings,
) -> list[Finding]:
    """Run ``names`` for every symbol on the engine's state at ``now_ns``; the findings."""
    from montalaq.agents import AgentContext

    findings: list[Finding] = []
    contexts = {s: AgentContext.from_engine(engine, s, now_ns, settings) for s in symbols}
    for name in names:
        for sym in symbols:
            finding = registry.run(name, contexts[sym])
            if finding is not None:
                findings.append(finding)
    return findings


def consult_analyst(
    analyst: LLMAnalyst | None,
    registry: AgentRegistry,
    engine: MarketEngine,
    store: Store,
    findings: Sequence[Finding],
    now_ns: int,
) -> int:
    """Hand each symbol that got findings this cycle to the LLM analyst (docs/llm.md), with
    its ``/signals_tf`` features, ``trend_score``'s posture, and those findings with the
    symbol's recent stored ones (the prompt's context); the analyst's own gates (score,
    interval, breaker) decide whether it calls the model, off the cycle. Returns how many
    symbols were submitted. No analyst (``LLM_ENABLE`` off): nothing."""
    if analyst is None or not findings:
        return 0
    trend = registry.get("trend_score").fn if "trend_score" in registry else None
    posture = getattr(trend, "posture", None)
    by_symbol: dict[str, list[Finding]] = {}
    for f in findings:
        by_symbol.setdefault(f.symbol, []).append(f)
    for sym, mine in by_symbol.items():
        try:
            stored = store.latest_findings(sym, 10)
        except Exception as exc:  # the context is a nicety: the cycle's own findings suffice
            log.debug("recent findings of %s unreadable: %s", sym, exc, extra={"component": "cycle"})
            stored = []
        seen = {(f.agent, f.ts_utc) for f in mine}
        context = mine + [f for f in stored if (f.agent, f.ts_utc) not in seen]
        value = posture(sym) if callable(posture) else None
        analyst.submit(sym, engine.signals_tf(sym), None if value is None else str(value), context, now_ns)
    return len(by_symbol)


def store_findings(
    store: Store, findings: Iterable[Finding], component: str
) -> tuple[int, BaseException | None]:
    """Store each finding (the store buffers them while the database is down); ``(stored,
    last error)``."""
    n = 0
    last: BaseException | None = None
    for f in findings:
        try:
            store.add_finding(f)
            n += 1
        except Exception as exc:
            last = exc
            log.exception("finding of %s could not be stored", f.agent, extra={"component": component})
    return n, last


__all__ = [
    "FRESHNESS_CODE",
    "BoardHost",
    "ErrorMap",
    "Escalation",
    "EventNotification",
    "StatusRow",
    "channel_changes",
    "channel_error_type",
    "code_name",
    "consult_analyst",
    "escalate",
    "event_doc",
    "event_notification",
    "freshness_codes",
    "log_event",
    "notify_event",
    "provider_failed",
    "run_agents",
    "status_rows",
    "store_findings",
    "upsert_status",
    "write_status",
]
