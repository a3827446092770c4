"""What every streaming client shares: one WebSocket session per ``trades()`` call, a reader
that never waits for the consumer, a bounded buffer, heartbeats, idle detection, the error
taxonomy and the numbers an operator reads (docs/feeds.md).

A session connects, subscribes, backfills what the previous session missed (where the
provider can), then yields batches until the connection fails; the caller (the service's
feed loop, ``montalaq.service``) reconnects with the retry policy and a breaker. State
that must survive a reconnect (the last trade id per symbol, the counters) lives on the
client object, not in the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from montalaq.feeds import Batch, QuoteBatch, TradeBatch
from montalaq.providers.buffer import Gap, PendingTrades
from montalaq.providers.errors import MalformedFrameError, ProviderAuthError, redact
from montalaq.retry import RetryPolicy
from montalaq.shapes import StreamStats

log = logging.getLogger("montalaq.providers")

_NS = 1_000_000_000
_RATE_WINDOW_S = 10.0
_GAPS_KEPT = 50


class StreamClient(ABC):
    """Base of the WebSocket clients. ``name`` is the provider's name as recorded on its
    pairs; ``symbols`` the exchange symbols subscribed.

    ``idle_timeout_s``: a session with no message (data or heartbeat reply) for this long
    fails with ``TimeoutError`` (INGESTION_TIMEOUT) -- a server that accepts and goes quiet
    is a failure, not a healthy silence. ``heartbeat_s``: how often the client sends the
    provider's application heartbeat (WebSocket pings run beside it). ``max_pending``:
    trades parsed but not yet taken by the consumer, per symbol; beyond it the oldest are
    dropped, counted (``dropped``) and recorded as a gap. ``clock``: wall time, int ns.
    """

    name: str = "stream"
    heartbeat_s: float | None = None
    backfills = False  # True: after a reconnect, the missed data comes first (the service holds bars)

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        ws_url: str,
        idle_timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        max_pending: int = 1_000_000,
        clock: Callable[[], int] | None = None,
        rest_url: str | None = None,
        rest_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        syms = [str(s).strip() for s in symbols]
        if not syms or any(not s for s in syms):
            raise ValueError(f"symbols: expected at least one symbol, got {list(symbols)!r}")
        if not isinstance(ws_url, str) or not ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_url: expected a ws:// or wss:// URL, got {ws_url!r}")
        for label, value in (("idle_timeout_s", idle_timeout_s), ("connect_timeout_s", connect_timeout_s)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"{label}: expected seconds > 0, got {value!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending: expected an integer >= 1, got {max_pending!r}")
        self._symbols = tuple(syms)
        self._secret: str | None = None  # set by clients with a key: redacted from every message
        self.ws_url = ws_url
        self.idle_timeout_s = float(idle_timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_pending = max_pending
        if rest_url is not None and not rest_url.startswith(("http://", "https://")):
            raise ValueError(f"rest_url: expected an http(s) URL, got {rest_url!r}")
        self.rest_url = (rest_url or "").rstrip("/")  # the backfill's REST API ("" where none)
        self.rest_timeout_s = rest_timeout_s
        # REST calls of a backfill: a few quick tries, honouring Retry-After on 429/5xx.
        self._retry = (
            retry if retry is not None else RetryPolicy(max_attempts=4, base_s=0.5, max_delay_s=10.0)
        )
        self._clock = clock if clock is not None else time.time_ns
        self._lock = threading.Lock()  # stats are read from other threads (API, metrics)
        self._pending: dict[str, PendingTrades] = {}
        self._quotes: dict[str, list[tuple[int, float, float]]] = {}
        self._wake = asyncio.Event()
        self._rate_mark = (self._clock(), 0)  # (time, messages) at the start of the rate window
        self._rate: float | None = None
        self.sessions = 0
        self.reconnects = 0
        self.messages = 0
        self.trades_parsed = 0
        self.quotes_parsed = 0
        self.parse_errors = 0
        self.dropped = 0
        self.backfilled = 0
        self.gaps_total = 0
        self.gaps: deque[Gap] = deque(maxlen=_GAPS_KEPT)
        self._stalled: set[str] = set()  # symbols whose overflow gap is still growing
        self.connected = False
        self.last_message_ns = 0
        self.last_error: str | None = None
        self.disconnected_at_ns = 0

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    @property
    def catching_up(self) -> bool:
        """True from a disconnect until the next session has handed over its backfill."""
        return self.disconnected_at_ns != 0

    # -- what a provider implements ------------------------------------------------------
    @abstractmethod
    def connect_url(self) -> str:
        """The URL to open (with credentials where the provider takes them in the URL)."""

    @abstractmethod
    def subscribe_messages(self) -> list[str]:
        """Frames sent right after the connection opens."""

    @abstractmethod
    def on_frame(self, frame: str | bytes) -> None:
        """Parse one frame: ``add_trade``/``add_quote`` rows, raise :class:`MalformedFrameError`
        for a frame that breaks the protocol, :class:`ProviderAuthError` for a refusal."""

    def has_pending(self) -> bool:
        """Whether parsed data waits for the consumer."""
        return bool(self._pending or self._quotes)

    def heartbeat_message(self) -> str | None:
        """The provider's application heartbeat, or None (WebSocket pings only)."""
        return None

    async def backfill(self, gap_from_ns: int) -> list[Batch]:
        """After a reconnect: what the previous session missed, fetched by REST, in order.
        The default fetches nothing and records the gap."""
        self.record_gap(
            symbols=self._symbols,
            from_ns=gap_from_ns,
            to_ns=self._clock(),
            missing=-1,
            filled="",
            reason="reconnect: the provider cannot backfill trades",
        )
        return []

    def accept_trade(self, symbol: str, trade_id: int) -> bool:
        """Whether a live trade is new (the Binance client drops ids it already delivered)."""
        return True

    # -- used by providers ------------------------------------------------------------------
    def add_trade(self, symbol: str, ts_ns: int, price: float, size: float, side: int, trade_id: int) -> None:
        p = self._pending.get(symbol)
        if p is None:
            p = self._pending[symbol] = PendingTrades()
        p.ts.append(ts_ns)
        p.px.append(price)
        p.sz.append(size)
        p.sd.append(side)
        p.ids.append(trade_id)
        self.trades_parsed += 1
        if len(p) > self.max_pending:
            # Drop a tenth at once: one gap per stall, not one per trade.
            n = len(p) - self.max_pending + max(1, self.max_pending // 10)
            first, last = p.drop_oldest(n)
            self.dropped += n
            self._overflow(symbol, first, last, n)

    def _overflow(self, symbol: str, first_ns: int, last_ns: int, n: int) -> None:
        with self._lock:
            if symbol in self._stalled and self.gaps and self.gaps[-1].symbol == symbol:
                g = self.gaps[-1]  # the same stall goes on: widen its gap
                self.gaps[-1] = Gap(symbol, g.from_ns, last_ns, g.missing + n, "", g.reason)
                return
        self._stalled.add(symbol)
        self.record_gap(
            symbols=(symbol,),
            from_ns=first_ns,
            to_ns=last_ns,
            missing=n,
            filled="",
            reason="overflow: the consumer fell behind; the oldest trades were dropped",
        )

    def add_quote(self, symbol: str, ts_ns: int, bid: float, ask: float) -> None:
        q = self._quotes.setdefault(symbol, [])
        if len(q) >= 1024:  # quotes supersede each other: keep the newest only
            del q[:512]
        q.append((ts_ns, bid, ask))
        self.quotes_parsed += 1

    def record_gap(
        self, *, symbols: Sequence[str], from_ns: int, to_ns: int, missing: int, filled: str, reason: str
    ) -> None:
        with self._lock:
            for sym in symbols:
                self.gaps.append(Gap(sym, from_ns, to_ns, missing, filled, reason))
                self.gaps_total += 1
        log.warning(
            "%s: gap for %s (%s)%s",
            self.name,
            ",".join(symbols),
            reason,
            f", filled from {filled}" if filled else ", not filled",
            extra={"component": "provider", "provider": self.name},
        )

    def now_ns(self) -> int:
        return self._clock()

    # -- the session -------------------------------------------------------------------------
    def drain(self) -> list[Batch]:
        """The batches parsed since the last call (one per symbol, quotes after trades): what
        the session yields. Public for benchmarks and for hosts that feed frames themselves
        through :meth:`on_frame`."""
        out: list[Batch] = []
        pending, self._pending = self._pending, {}
        self._stalled.clear()
        for sym, p in pending.items():
            if not len(p):
                continue
            out.append(
                TradeBatch(
                    sym,
                    np.array(p.ts, dtype=np.int64),
                    np.array(p.px, dtype=np.float64),
                    np.array(p.sz, dtype=np.float64),
                    np.array(p.sd, dtype=np.int8),
                    None if p.ids[0] < 0 else np.array(p.ids, dtype=np.uint64),  # -1: the feed has no ids
                )
            )
        quotes, self._quotes = self._quotes, {}
        for sym, q in quotes.items():
            arr = np.array(q, dtype=np.float64)
            out.append(
                QuoteBatch(
                    sym, np.array([r[0] for r in q], dtype=np.int64), arr[:, 1].copy(), arr[:, 2].copy()
                )
            )
        return out

    def _note_message(self) -> None:
        now = self._clock()
        with self._lock:
            self.messages += 1
            self.last_message_ns = now

    async def trades(self) -> AsyncIterator[Batch]:
        """One session: connect, subscribe, backfill a previous session's gap, stream."""
        self._wake = asyncio.Event()
        ws = await self._connect()
        reader: asyncio.Task[None] | None = None
        beat: asyncio.Task[None] | None = None
        try:
            await self._subscribe(ws)
            reader = asyncio.create_task(self._read(ws), name=f"montalaq-{self.name}-reader")
            if self.heartbeat_s:
                beat = asyncio.create_task(self._heartbeat(ws), name=f"montalaq-{self.name}-heartbeat")
            if self.disconnected_at_ns:
                for batch in await self.backfill(self.disconnected_at_ns):
                    yield batch
                self.disconnected_at_ns = 0
            while True:
                batches = self.drain()
                for batch in batches:
                    yield batch
                await self._await_frames(reader)
        except Exception as exc:
            self.last_error = redact(f"{type(exc).__name__}: {exc}", self._secret)
            raise
        finally:
            await self._end_session(ws, reader, beat)

    async def _connect(self) -> Any:
        """The opened WebSocket; a refused handshake, an unreachable server or no handshake
        within ``connect_timeout_s`` raise as the taxonomy classifies them (401/403:
        :class:`ProviderAuthError`), with ``last_error`` set."""
        import websockets  # an import of the api extra's dependency only when a client runs

        try:
            return await asyncio.wait_for(
                websockets.connect(
                    self.connect_url(),
                    open_timeout=None,
                    ping_interval=20,
                    ping_timeout=20,
                    max_size=2**22,
                    close_timeout=2,
                ),
                self.connect_timeout_s,
            )
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            self.last_error = f"handshake refused (HTTP {status})"
            if status in (401, 403):
                raise ProviderAuthError(
                    f"{self.name}: the server refused the credentials (HTTP {status})"
                ) from None
            raise ConnectionError(f"{self.name}: handshake refused (HTTP {status})") from None
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secret)
            self.last_error = f"cannot connect: {detail}"
            raise ConnectionError(f"{self.name}: cannot connect: {detail}") from None
        except TimeoutError:
            self.last_error = f"no handshake within {self.connect_timeout_s:g} s"
            raise TimeoutError(f"{self.name}: {self.last_error}") from None

    async def _subscribe(self, ws: Any) -> None:
        """Count the session (a reconnect after the first), mark it connected, subscribe."""
        with self._lock:
            self.sessions += 1
            if self.sessions > 1:
                self.reconnects += 1
            self.connected = True
            self.last_message_ns = self._clock()
        for msg in self.subscribe_messages():
            await ws.send(msg)

    async def _await_frames(self, reader: asyncio.Task[None]) -> None:
        """Raise when the session is over -- the reader failed, the server closed the stream,
        or no message came for ``idle_timeout_s`` -- else wait (at most 1 s) for the reader
        to parse more unless data already waits."""
        if reader.done():
            failure = reader.exception()
            if failure is not None:
                raise failure
            raise ConnectionError(f"{self.name}: the server closed the stream")
        idle_s = (self._clock() - self.last_message_ns) / _NS
        if idle_s > self.idle_timeout_s:
            raise TimeoutError(f"{self.name}: no message for {idle_s:.0f} s")
        self._wake.clear()
        if not self.has_pending():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(1.0, self.idle_timeout_s))

    async def _end_session(
        self, ws: Any, reader: asyncio.Task[None] | None, beat: asyncio.Task[None] | None
    ) -> None:
        """Mark the client disconnected (since now, unless a gap is still open), stop the
        session's tasks and close the socket (at most 2 s)."""
        with self._lock:
            self.connected = False
        if not self.disconnected_at_ns:
            self.disconnected_at_ns = self._clock()
        for task in (reader, beat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2.0)

    async def _read(self, ws: Any) -> None:
        import websockets

        try:
            async for frame in ws:
                self._note_message()
                try:
                    self.on_frame(frame)
                except ProviderAuthError:
                    raise
                except (MalformedFrameError, ValueError, KeyError, TypeError, IndexError) as exc:
                    with self._lock:
                        self.parse_errors += 1
                    if self.parse_errors <= 3 or self.parse_errors % 1000 == 0:
                        log.warning(
                            "%s: malformed frame skipped (%s): %.120r",
                            self.name,
                            exc,
                            frame,
                            extra={"component": "provider", "provider": self.name},
                        )
                    continue
                self._wake.set()
        except websockets.ConnectionClosed as exc:
            raise ConnectionError(f"{self.name}: connection closed ({exc})") from None
        finally:
            self._wake.set()  # the session sees the end at once, not at its next poll

    async def _heartbeat(self, ws: Any) -> None:
        assert self.heartbeat_s
        while True:
            await asyncio.sleep(self.heartbeat_s)
            msg = self.heartbeat_message()
            if msg is not None:
                await ws.send(msg)

    # -- what operators read -----------------------------------------------------------------
    def messages_per_s(self) -> float:
        """Messages per second over the last complete window of at least 10 s (the running
        window before the first completes): two counter readings, nothing kept per message."""
        now = self._clock()
        with self._lock:
            t0, m0 = self._rate_mark
            elapsed_s = (now - t0) / _NS
            if elapsed_s >= _RATE_WINDOW_S:
                self._rate = (self.messages - m0) / elapsed_s
                self._rate_mark = (now, self.messages)
            elif self._rate is None and elapsed_s > 0:
                return (self.messages - m0) / elapsed_s
            return self._rate or 0.0

    def stats(self) -> StreamStats:
        """The client's numbers (JSON-ready): connected, sessions, reconnects, messages,
        messages_per_s, trades, quotes, parse_errors, dropped, backfilled, gaps (count and
        the last few), last_message_age_s (None before the first), last_error."""
        rate = self.messages_per_s()
        now = self._clock()
        with self._lock:
            age = (now - self.last_message_ns) / _NS if self.last_message_ns else None
            return {
                "provider": self.name,
                "connected": self.connected,
                "sessions": self.sessions,
                "reconnects": self.reconnects,
                "messages": self.messages,
                "messages_per_s": round(rate, 3),
                "trades": self.trades_parsed,
                "quotes": self.quotes_parsed,
                "parse_errors": self.parse_errors,
                "dropped": self.dropped,
                "backfilled": self.backfilled,
                "gaps": self.gaps_total,
                "recent_gaps": [g.to_dict() for g in self.gaps],
                "last_message_age_s": None if age is None else round(max(0.0, age), 3),
                "last_error": self.last_error,
            }


__all__ = ["Gap", "MalformedFrameError", "ProviderAuthError", "StreamClient", "redact"]
