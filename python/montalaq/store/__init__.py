"""The store (SPEC §9): SQLAlchemy Core over SQLite (WAL, the default) or PostgreSQL.

::

    store = Store()                         # DATABASE_URL, else sqlite:///data/montalaq.db
    store.save_analysis(Analysis(...))      # upsert on (symbol, timeframe, bar_ts)
    store.latest_analysis("SPY", "1m")
    store.add_finding(Finding(...))         # buffered in memory while the DB is down
    store.latest_findings("SPY", limit=20)
    store.claim_signal_bar("SPY", "1m", bar_ts, now, window_s=900)   # per-bar signal dedupe

An empty database is migrated on first use; one that is behind raises
:class:`SchemaOutOfDateError` ("run `montalaq db upgrade`"). Every method opens its own
connection from the engine's pool: a Store is safe to share between threads.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from montalaq.records import Analysis, AnalysisStatus, Decision, Finding, as_utc
from montalaq.store import migrate, schema
from montalaq.store.engine import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
    make_engine,
    mask_url,
    resolve_url,
)
from montalaq.store.migrate import SchemaOutOfDateError
from montalaq.store.outbox import NewOutboxRow, Outbox, OutboxRow
from montalaq.timeframes import parse_timeframe, timeframe_label

log = logging.getLogger("montalaq.store")

MAX_LIMIT = 10_000

_INGESTION_FIELDS = (
    "provider",
    "freshness",
    "last_tick_at",
    "escalation_level",
    "breaker_open",
    "last_error_code",
    "last_signal_bar_ts",
    "last_notify_at",
)
_TIME_FIELDS = {"last_tick_at", "last_signal_bar_ts", "last_notify_at"}


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected an integer in [1, {MAX_LIMIT}], got {limit!r}")
    return limit


def _tf(timeframe: object) -> str:
    if not isinstance(timeframe, str):
        raise TypeError(f"timeframe: expected a string such as '1m', got {type(timeframe).__name__}")
    return timeframe_label(parse_timeframe(timeframe))


def _now(now: Any) -> datetime:
    return datetime.now(UTC) if now is None else as_utc(now, "now")


def _error_type(error_type: object) -> str:
    name = getattr(error_type, "name", error_type)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ValueError(f"error_type: expected a name of 1-64 characters, got {error_type!r}")
    return name


def _error_message(message: object) -> str:
    text_ = message if isinstance(message, str) else f"{type(message).__name__}: {message}"
    # Kept short and storable: one line's worth, lone surrogates replaced.
    return text_[:2000].encode("utf-8", "replace").decode("utf-8")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "cannot reach the database" (not a bad statement or row): a
    connection error, a connection invalidated mid-statement, or no pooled connection
    within the pool's timeout (the database hangs)."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Store:
    """Repository over the montalaq tables. See the module docstring.

    ``url``: a SQLAlchemy URL (``sqlite:///path``, ``postgresql://...``); default
    ``DATABASE_URL`` or the SQLite file. ``auto_migrate``: migrate an empty database on
    first use. ``findings_buffer``: how many findings are kept in memory while the
    database is down (oldest dropped first, counted in ``findings_dropped``).
    ``connect_timeout_s`` / ``statement_timeout_s``: see :func:`~montalaq.store.engine.make_engine`
    (``Store.from_settings`` takes ``DB_CONNECT_TIMEOUT_SEC`` / ``DB_STATEMENT_TIMEOUT_SEC``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        auto_migrate: bool = True,
        findings_buffer: int = 10_000,
        sqlite_synchronous: str = "NORMAL",
        engine: Engine | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
    ) -> None:
        if isinstance(findings_buffer, bool) or not isinstance(findings_buffer, int) or findings_buffer < 1:
            raise ValueError(f"findings_buffer: expected an integer >= 1, got {findings_buffer!r}")
        self.url = resolve_url(url) if engine is None else engine.url.render_as_string(hide_password=False)
        self.engine = (
            engine
            if engine is not None
            else make_engine(
                self.url,
                sqlite_synchronous=sqlite_synchronous,
                connect_timeout_s=connect_timeout_s,
                statement_timeout_s=statement_timeout_s,
            )
        )
        self.dialect = self.engine.dialect.name
        self._auto_migrate = auto_migrate
        self._ready = False
        self._ready_lock = threading.Lock()
        self._buffer: deque[Finding] = deque(maxlen=findings_buffer)
        self._buffer_lock = threading.Lock()
        self.findings_dropped = 0
        self._outbox = Outbox(self.engine)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Store:
        """A store on ``DATABASE_URL`` (else the SQLite file) with the settings' timeouts."""
        kwargs.setdefault("connect_timeout_s", settings.db_connect_timeout_sec)
        kwargs.setdefault("statement_timeout_s", settings.db_statement_timeout_sec)
        return cls(settings.database_url_value, **kwargs)

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"

    @property
    def outbox(self) -> Outbox:
        """The notification outbox (the schema is ensured first)."""
        self._ensure()
        return self._outbox

    # -- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> str:
        """Migrate an empty database (when ``auto_migrate``) and check the revision."""
        with self._ready_lock:
            rev = migrate.ensure(self.engine, auto_upgrade_empty=self._auto_migrate)
            self._ready = True
            return rev

    def _ensure(self) -> None:
        if not self._ready:
            self.ensure_schema()

    def upgrade(self) -> str:
        """Apply every pending migration (``montalaq db upgrade``); returns the revision."""
        rev = migrate.upgrade(self.engine)
        self._ready = True
        return rev

    def revision(self) -> str | None:
        """The database's current migration revision (None before the first migration)."""
        return migrate.current_revision(self.engine)

    def health(self) -> dict[str, Any]:
        """``{ok: True}`` when a trivial query answers, else ``{ok: False, error}`` (no secrets)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure is the answer, never raised
            return {"ok": False, "error": f"{type(exc).__name__}: {_scrub(str(exc), self.url)}"}
        return {"ok": True}

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    # -- analyses -------------------------------------------------------------------------
    def save_analysis(self, analysis: Analysis, now: Any = None) -> None:
        """Insert or update the analysis of (symbol, timeframe, bar_ts)."""
        if not isinstance(analysis, Analysis):
            raise TypeError(f"analysis: expected an Analysis, got {type(analysis).__name__}")
        self._ensure()
        ts = _now(now)
        t = schema.trade_analysis
        values = {
            "symbol": analysis.symbol,
            "timeframe": analysis.timeframe,
            "bar_ts": analysis.bar_ts,
            "status": analysis.status.value,
            "final_decision": None if analysis.final_decision is None else analysis.final_decision.value,
            "rule_confidence_score": analysis.rule_confidence_score,
            "ml_confidence": analysis.ml_confidence,
            "composite_score": analysis.composite_score,
            "stop_loss": analysis.stop_loss,
            "take_profit": analysis.take_profit,
            "close": analysis.close,
            "error_code": analysis.error_code,
            "error_message": analysis.error_message,
            "top_features": analysis.top_features,
            "correlation_id": analysis.correlation_id,
            "created_at": analysis.created_at or ts,
            "updated_at": ts,
        }
        ins = self._insert(t).values(**values)
        keep = {"symbol", "timeframe", "bar_ts", "created_at"}
        stmt = ins.on_conflict_do_update(
            index_elements=["symbol", "timeframe", "bar_ts"],
            set_={k: ins.excluded[k] for k in values if k not in keep},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        analysis.created_at = analysis.created_at or ts
        analysis.updated_at = ts

    def latest_analysis(self, symbol: str, timeframe: str) -> Analysis | None:
        """The analysis of the newest bar of (symbol, timeframe), or None."""
        rows = self.analysis_history(symbol, timeframe, limit=1)
        return rows[0] if rows else None

    def analysis_history(self, symbol: str, timeframe: str, limit: int = 100) -> list[Analysis]:
        """Analyses of (symbol, timeframe), newest bar first."""
        self._ensure()
        t = schema.trade_analysis
        stmt = (
            select(t)
            .where(and_(t.c.symbol == symbol, t.c.timeframe == _tf(timeframe)))
            .order_by(t.c.bar_ts.desc())
            .limit(_limit(limit))
        )
        with self.engine.connect() as conn:
            return [_analysis(r) for r in conn.execute(stmt)]

    def recent_analyses(self, limit: int = 20) -> list[Analysis]:
        """The newest analyses across every pair (the last ones recorded first)."""
        self._ensure()
        t = schema.trade_analysis
        stmt = select(t).order_by(t.c.id.desc()).limit(_limit(limit))
        with self.engine.connect() as conn:
            return [_analysis(r) for r in conn.execute(stmt)]

    # -- findings -------------------------------------------------------------------------
    def add_finding(self, finding: Finding) -> Finding:
        """Store a finding (its ``id`` is set). While the database is down the finding is
        kept in a bounded memory buffer instead, written when the database returns."""
        if not isinstance(finding, Finding):
            raise TypeError(f"finding: expected a Finding, got {type(finding).__name__}")
        try:
            self._ensure()
            if self._buffer:
                self.flush_findings()
            self._write_findings([finding])
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self._buffer_finding(finding, exc)
        return finding

    def _buffer_finding(self, finding: Finding, exc: BaseException) -> None:
        with self._buffer_lock:
            if not self._buffer:
                log.warning(
                    "database unavailable; buffering findings in memory",
                    extra={"component": "store", "error": f"{type(exc).__name__}"},
                )
            if len(self._buffer) == self._buffer.maxlen:
                self.findings_dropped += 1
            self._buffer.append(finding)

    def _write_findings(self, items: list[Finding]) -> None:
        t = schema.findings
        with self.engine.begin() as conn:
            for f in items:
                f.id = conn.execute(
                    t.insert()
                    .values(
                        ts_utc=f.ts_utc,
                        agent=f.agent,
                        symbol=f.symbol,
                        score=f.score,
                        label=f.label,
                        details=f.details,
                        correlation_id=f.correlation_id,
                    )
                    .returning(t.c.id)
                ).scalar_one()

    @property
    def buffered_findings(self) -> int:
        """Findings waiting in memory for the database."""
        return len(self._buffer)

    def flush_findings(self) -> int:
        """Write buffered findings (oldest first); returns how many were written. Raises the
        database error if it is still down (the buffer is kept)."""
        with self._buffer_lock:
            items = list(self._buffer)
            if not items:
                return 0
            self._write_findings(items)
            self._buffer.clear()
        log.info("database back; wrote %d buffered findings", len(items), extra={"component": "store"})
        return len(items)

    def latest_findings(self, symbol: str | None = None, limit: int = 50) -> list[Finding]:
        """Newest findings first (of one symbol, or all). Served from the memory buffer
        while the database is down."""
        n = _limit(limit)
        try:
            self._ensure()
            if self._buffer:
                self.flush_findings()
            t = schema.findings
            stmt = select(t).order_by(t.c.ts_utc.desc(), t.c.id.desc()).limit(n)
            if symbol is not None:
                stmt = stmt.where(t.c.symbol == symbol)
            with self.engine.connect() as conn:
                return [_finding(r) for r in conn.execute(stmt)]
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            with self._buffer_lock:
                items = [f for f in self._buffer if symbol is None or f.symbol == symbol]
            items.sort(key=lambda f: f.ts_utc, reverse=True)
            return items[:n]

    # -- ingestion status -----------------------------------------------------------------
    def upsert_ingestion_status(self, symbol: str, timeframe: str, now: Any = None, **fields: Any) -> None:
        """Insert or update the status row of (symbol, timeframe) with ``fields`` (any of
        provider, freshness, last_tick_at, escalation_level, breaker_open, last_error_code,
        last_signal_bar_ts, last_notify_at); fields not given are left as they are."""
        unknown = set(fields) - set(_INGESTION_FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {sorted(unknown)}; expected some of {list(_INGESTION_FIELDS)}")
        self._ensure()
        values: dict[str, Any] = {}
        for k, raw in fields.items():
            values[k] = _status_value(k, raw)
        values["updated_at"] = _now(now)
        t = schema.ingestion_status
        # breaker_open is NOT NULL: a new row gets False unless the caller gives it.
        ins = self._insert(t).values(
            symbol=symbol, timeframe=_tf(timeframe), **{"breaker_open": False, **values}
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["symbol", "timeframe"], set_={k: ins.excluded[k] for k in values}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def ingestion_status(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Status rows (of one symbol, or all), ordered by symbol and timeframe."""
        self._ensure()
        t = schema.ingestion_status
        stmt = select(t).order_by(t.c.symbol, t.c.timeframe)
        if symbol is not None:
            stmt = stmt.where(t.c.symbol == symbol)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def claim_signal_bar(
        self, symbol: str, timeframe: str, bar_ts: Any, now: Any = None, window_s: float = 900.0
    ) -> bool:
        """Atomically claim the right to notify the signal of ``bar_ts`` (SPEC §6).

        True (and ``last_signal_bar_ts``/``last_notify_at`` updated) when no signal of a
        bar at or after ``bar_ts`` was notified, or when the same bar's notification is
        older than ``window_s``; False otherwise -- also for a bar older than the last one
        signalled (a late, stale signal). Safe across processes: one statement decides.
        """
        if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not window_s >= 0:
            raise ValueError(f"window_s: expected seconds >= 0, got {window_s!r}")
        self._ensure()
        tf = _tf(timeframe)
        bar = as_utc(bar_ts, "bar_ts")
        ts = _now(now)
        t = schema.ingestion_status
        claim = (
            update(t)
            .where(
                and_(
                    t.c.symbol == symbol,
                    t.c.timeframe == tf,
                    or_(
                        t.c.last_signal_bar_ts.is_(None),
                        t.c.last_signal_bar_ts < bar,
                        and_(
                            t.c.last_signal_bar_ts == bar,
                            or_(
                                t.c.last_notify_at.is_(None),
                                t.c.last_notify_at <= ts - timedelta(seconds=window_s),
                            ),
                        ),
                    ),
                )
            )
            .values(last_signal_bar_ts=bar, last_notify_at=ts, updated_at=ts)
        )
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(t)
                .values(symbol=symbol, timeframe=tf, breaker_open=False, updated_at=ts)
                .on_conflict_do_nothing(index_elements=["symbol", "timeframe"])
            )
            return bool(conn.execute(claim).rowcount == 1)

    # -- dedup events ---------------------------------------------------------------------
    def record_dedup_event(
        self,
        key: str,
        action: str,
        *,
        symbol: str | None = None,
        correlation_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Append a dedupe decision (``action``: ALLOWED, DEDUPED, ...) to ``dedup_events``."""
        if not isinstance(key, str) or not key or len(key) > 128:
            raise ValueError(f"key: expected a non-empty string of at most 128 characters, got {key!r}")
        if not isinstance(action, str) or not action:
            raise ValueError("action: expected a non-empty string such as 'ALLOWED' or 'DEDUPED'")
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(
                schema.dedup_events.insert().values(
                    created_at=_now(now),
                    key=key,
                    action=action,
                    symbol=symbol,
                    correlation_id=correlation_id,
                    payload_json=dict(payload) if payload is not None else None,
                )
            )

    def dedup_events(self, key: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Dedupe decisions, newest first (of one key, or all)."""
        self._ensure()
        t = schema.dedup_events
        stmt = select(t).order_by(t.c.id.desc()).limit(_limit(limit))
        if key is not None:
            stmt = stmt.where(t.c.key == key)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def count_dedup_events(self, since: Any, action: str | None = None) -> int:
        """How many dedupe decisions were recorded at or after ``since`` (of ``action``
        ALLOWED/DEDUPED, or all)."""
        self._ensure()
        t = schema.dedup_events
        stmt = select(func.count()).select_from(t).where(t.c.created_at >= as_utc(since, "since"))
        if action is not None:
            stmt = stmt.where(t.c.action == action)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def prune_dedup_events(self, older_than: Any) -> int:
        """Delete dedupe decisions created before ``older_than``; returns how many."""
        self._ensure()
        t = schema.dedup_events
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(t).where(t.c.created_at < as_utc(older_than, "older_than"))).rowcount
            )

    # -- error notifications log (docs/semantics.md, "Error episodes") --------------------
    def record_error(self, error_type: str, message: str = "", now: Any = None) -> None:
        """One occurrence of ``error_type``: counted on its open episode, or opening a new
        one (first occurrence ``now``). ``message`` becomes the episode's latest message."""
        self._ensure()
        ts = _now(now)
        t = schema.error_notifications_log
        ins = self._insert(t).values(
            error_type=_error_type(error_type),
            error_message=_error_message(message),
            first_occurrence=ts,
            last_occurrence=ts,
            occurrence_count=1,
            notification_count=0,
            is_resolved=False,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["error_type"],
            index_where=text("NOT is_resolved"),  # the partial unique index, word for word
            set_={
                "error_message": ins.excluded.error_message,
                "last_occurrence": ins.excluded.last_occurrence,
                "occurrence_count": t.c.occurrence_count + 1,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def record_error_notification(self, error_types: Iterable[str], now: Any = None) -> int:
        """A notification naming ``error_types`` went out: their open episodes count it.
        Returns how many episodes were updated."""
        self._ensure()
        names = sorted({_error_type(e) for e in error_types})
        if not names:
            return 0
        t = schema.error_notifications_log
        stmt = (
            update(t)
            .where(t.c.error_type.in_(names), t.c.is_resolved.is_(False))
            .values(last_notification_sent=_now(now), notification_count=t.c.notification_count + 1)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def resolve_error_episode(self, error_type: str, now: Any = None, *, notified: bool = False) -> bool:
        """Close the open episode of ``error_type`` at ``now`` (``notified``: a recovery
        message went out, counted). False when none was open."""
        self._ensure()
        ts = _now(now)
        t = schema.error_notifications_log
        values: dict[str, Any] = {"is_resolved": True, "resolved_at": ts}
        if notified:
            values.update(last_notification_sent=ts, notification_count=t.c.notification_count + 1)
        stmt = (
            update(t)
            .where(t.c.error_type == _error_type(error_type), t.c.is_resolved.is_(False))
            .values(values)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def error_episodes(self, limit: int = 100, error_type: str | None = None) -> list[dict[str, Any]]:
        """``error_notifications_log`` rows (one per episode), newest occurrence first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ValueError(f"limit: expected an integer in [1, 10000], got {limit!r}")
        self._ensure()
        t = schema.error_notifications_log
        q = select(t).order_by(t.c.last_occurrence.desc(), t.c.id.desc()).limit(limit)
        if error_type is not None:
            q = q.where(t.c.error_type == _error_type(error_type))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def error_summary(self) -> list[dict[str, Any]]:
        """The error summary, one row per error type (sorted by type): ``{error_type,
        error_message, first_occurrence, last_occurrence, occurrence_count,
        last_notification_sent, notification_count, is_resolved, resolved_at, episodes,
        open_since}``. Counts add up every episode; the message, ``is_resolved`` and
        ``resolved_at`` are the newest episode's; ``open_since`` is its first occurrence
        while it is open (else None)."""
        self._ensure()
        t = schema.error_notifications_log
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.error_type, t.c.id))]
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            s = out.get(r["error_type"])
            if s is None:
                s = out[r["error_type"]] = {
                    "error_type": r["error_type"],
                    "first_occurrence": r["first_occurrence"],
                    "occurrence_count": 0,
                    "notification_count": 0,
                    "last_notification_sent": None,
                    "episodes": 0,
                }
            s["episodes"] += 1
            s["occurrence_count"] += int(r["occurrence_count"])
            s["notification_count"] += int(r["notification_count"])
            s["first_occurrence"] = min(s["first_occurrence"], r["first_occurrence"])
            sent = r["last_notification_sent"]
            if sent is not None and (
                s["last_notification_sent"] is None or sent > s["last_notification_sent"]
            ):
                s["last_notification_sent"] = sent
            # Rows come in id order: the last one seen is the newest episode.
            s.update(
                error_message=r["error_message"],
                last_occurrence=r["last_occurrence"],
                is_resolved=bool(r["is_resolved"]),
                resolved_at=r["resolved_at"],
                open_since=None if r["is_resolved"] else r["first_occurrence"],
            )
        return list(out.values())

    # -- service state snapshots ------------------------------------------------------------
    def save_service_state(self, name: str, payload: str, now: Any = None) -> None:
        """Keep the snapshot ``name`` (board, throttle: a JSON text), replacing the previous one."""
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ValueError(f"name: expected 1-64 characters, got {name!r}")
        if not isinstance(payload, str):
            raise TypeError(f"payload: expected a str, got {type(payload).__name__}")
        self._ensure()
        t = schema.service_state
        ins = self._insert(t).values(name=name, payload=payload, saved_at=_now(now))
        stmt = ins.on_conflict_do_update(
            index_elements=["name"], set_={"payload": ins.excluded.payload, "saved_at": ins.excluded.saved_at}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def load_service_state(self, name: str) -> tuple[str, datetime] | None:
        """``(payload, saved_at)`` of the snapshot ``name``, or None when none was saved."""
        self._ensure()
        t = schema.service_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.payload, t.c.saved_at).where(t.c.name == name)).first()
        return None if row is None else (str(row.payload), row.saved_at)

    # -- operational state ----------------------------------------------------------------
    def save_operational_state(
        self,
        state: Any,
        reason: str = "",
        entered_at: Any = None,
        details: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Write the single ``operational_state`` row."""
        self._ensure()
        name = state.name if hasattr(state, "name") and not isinstance(state, str) else str(state)
        ts = _now(now)
        values = {
            "state": name,
            "reason": reason,
            "entered_at": ts if entered_at is None else as_utc(entered_at, "entered_at"),
            "updated_at": ts,
            "details": dict(details) if details is not None else None,
        }
        t = schema.operational_state
        ins = self._insert(t).values(id=1, **values)
        with self.engine.begin() as conn:
            conn.execute(
                ins.on_conflict_do_update(index_elements=["id"], set_={k: ins.excluded[k] for k in values})
            )

    def load_operational_state(self) -> dict[str, Any] | None:
        """The ``operational_state`` row, or None if never written."""
        self._ensure()
        t = schema.operational_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == 1)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out.pop("id")
        return out

    # -- positions ------------------------------------------------------------------------
    def upsert_position(
        self,
        symbol: str,
        status: str,
        qty: float,
        avg_price: float | None = None,
        *,
        last_action: str | None = None,
        last_conf: float | None = None,
        now: Any = None,
    ) -> None:
        """Insert or replace the ``position_state`` row of ``symbol``."""
        self._ensure()
        values = {
            "status": status,
            "qty": float(qty),
            "avg_price": avg_price,
            "updated_at": _now(now),
            "last_action": last_action,
            "last_conf": last_conf,
        }
        t = schema.position_state
        ins = self._insert(t).values(symbol=symbol, **values)
        with self.engine.begin() as conn:
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["symbol"], set_={k: ins.excluded[k] for k in values}
                )
            )

    def positions(self) -> list[dict[str, Any]]:
        """``position_state`` rows by symbol."""
        self._ensure()
        t = schema.position_state
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.symbol))]

    # -- outbox (see montalaq.store.outbox) ------------------------------------------------
    def enqueue(self, rows: list[NewOutboxRow], now: Any = None) -> int:
        """Queue notification rows durably (the notifier's first step)."""
        return self.outbox.enqueue(rows, _now(now))


def _status_value(field: str, value: Any) -> Any:
    if field == "breaker_open":
        return bool(value)
    if value is None:
        return None
    if field in _TIME_FIELDS:
        return as_utc(value, field)
    # Enums (Colour, Level) are stored by name.
    return value.name if hasattr(value, "name") and not isinstance(value, str) else str(value)


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return message
    return message.replace(str(password), "***") if password else message


def _analysis(r: Any) -> Analysis:
    m = r._mapping
    return Analysis(
        symbol=m["symbol"],
        timeframe=m["timeframe"],
        bar_ts=m["bar_ts"],
        status=AnalysisStatus(m["status"]),
        final_decision=None if m["final_decision"] is None else Decision(m["final_decision"]),
        rule_confidence_score=m["rule_confidence_score"],
        ml_confidence=m["ml_confidence"],
        composite_score=m["composite_score"],
        stop_loss=m["stop_loss"],
        take_profit=m["take_profit"],
        close=m["close"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        top_features=m["top_features"],
        correlation_id=m["correlation_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _finding(r: Any) -> Finding:
    m = r._mapping
    return Finding(
        id=m["id"],
        ts_utc=m["ts_utc"],
        agent=m["agent"],
        symbol=m["symbol"],
        score=m["score"],
        label=m["label"],
        details=m["details"] or {},
        correlation_id=m["correlation_id"],
    )


__all__ = [
    "MAX_LIMIT",
    "NewOutboxRow",
    "Outbox",
    "OutboxRow",
    "SchemaOutOfDateError",
    "Store",
    "database_unavailable",
]
