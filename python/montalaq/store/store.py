"""The :class:`Store`: SQLAlchemy Core over SQLite (WAL, the default) or PostgreSQL
(docs/semantics.md, section Persistence). Analyses, findings and the outbox are here; the
other tables' methods come from the mixins in this package (status, dedup, episodes,
snapshots).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from sqlalchemy import Engine, and_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from montalaq.records import Analysis, Finding
from montalaq.shapes import DbHealth
from montalaq.store import schema
from montalaq.store.dedup import DedupEventsMixin
from montalaq.store.engine import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
    make_engine,
    mask_url,
    resolve_url,
)
from montalaq.store.episodes import ErrorEpisodesMixin
from montalaq.store.outbox import NewOutboxRow, Outbox
from montalaq.store.rows import _analysis, _finding, _limit, _now, _tf
from montalaq.store.snapshots import SnapshotsMixin
from montalaq.store.status import IngestionStatusMixin

log = logging.getLogger("montalaq.store")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "cannot reach the database" (not a bad statement or row): a
    connection error, a connection invalidated mid-statement, or no pooled connection
    within the pool's timeout (the database hangs)."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Store(IngestionStatusMixin, DedupEventsMixin, ErrorEpisodesMixin, SnapshotsMixin):
    """Repository over the montalaq tables (docs/semantics.md, section Persistence).

    ::

        store = Store()                         # DATABASE_URL, else sqlite:///data/montalaq.db
        store.save_analysis(Analysis(...))      # upsert on (symbol, timeframe, bar_ts)
        store.latest_analysis("SPY", "1m")
        store.add_finding(Finding(...))         # buffered in memory while the DB is down
        store.latest_findings("SPY", limit=20)
        store.claim_signal_bar("SPY", "1m", bar_ts, now, window_s=900)   # per-bar signal dedupe

    An empty database is migrated on first use; one that is behind raises
    :class:`~montalaq.store.migrate.SchemaOutOfDateError` ("run `montalaq db upgrade`"). Every
    method opens its own connection from the engine's pool: a Store is safe to share between
    threads.

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
        if engine is None:
            engine = make_engine(
                self.url,
                sqlite_synchronous=sqlite_synchronous,
                connect_timeout_s=connect_timeout_s,
                statement_timeout_s=statement_timeout_s,
            )
        super().__init__(engine, auto_migrate=auto_migrate)
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

    def health(self) -> DbHealth:
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

    # -- outbox (see montalaq.store.outbox) ------------------------------------------------
    def enqueue(self, rows: list[NewOutboxRow], now: Any = None) -> int:
        """Queue notification rows durably (the notifier's first step)."""
        return self.outbox.enqueue(rows, _now(now))


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return message
    return message.replace(str(password), "***") if password else message
