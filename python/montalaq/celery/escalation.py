"""The escalation board shared by the workers (SPEC §4.2-4.3, §10.2): evaluated by one
worker at a time under a Redis lock, its state kept in Redis between beats. The evaluation
itself is :func:`montalaq.cycle.escalate`; this module is its Redis adapter.

One evaluation (:func:`evaluate`):

1. take the board lock (another evaluation running: this one is skipped -- two beats never
   evaluate at once), and finish notifying the events a previous holder stored but did not
   get to notify (it died);
2. load the board: the cached one of this process if the shared version did not move,
   else ``EscalationBoard.from_json`` of the shared document (a fresh board from the
   settings the first time), and register the watchlist's pairs;
3. apply the analysis failures the workers queued (``record_failure`` with their time and
   error code), and evaluate at the feed's time with each pair's last trade time from the
   last tick;
4. in one Redis transaction: the new document and version, the failures it consumed
   removed, the events appended to the pending list, the open-breaker set updated (the tick
   reads it to skip pairs), the freshness colours kept for the next change detection;
5. notify the pending events (kind ``escalation`` / ``breaker``, idempotency key
   ``<kind>-<symbol>-<tf>-<event>-<new>-<at_ns>`` -- a notification queued again after a
   crash is dropped by the outbox), release the lock, upsert ``ingestion_status``.

Decisions:

- **Nothing is lost between workers.** Failures are an append-only list consumed in the
  same transaction that stores the board which counted them; events are stored with the
  board that produced them and removed only once queued in the outbox.
- **Status rows.** Up to ``status_all_pairs_max`` pairs every row is rewritten each cycle
  (as the service does); above that only the rows of pairs whose freshness colour changed,
  that had an event, or that got a failure.
- **Last error code** of a pair: the newest of its analysis failures, its provider's errors
  and ``FRESHNESS_THRESHOLD_EXCEEDED`` when a cycle finds it AMBER or RED -- unless a failure
  or provider error was recorded since the previous evaluation (it says more).
- **Auto-close** (``BREAKER_AUTO_CLOSE_CYCLES``) is the board's own policy, applied in each
  evaluation; the breaker task (:func:`breaker_tick`) reconciles the open-breaker set and the
  ``breaker_open`` column with the board; operator closes go through :func:`close_breaker`.
- **Pairs removed from the watchlist** stay on the board (it has no removal): they go RED and
  escalate once. Reset the board (``MontalaqCelery.reset_board``) after removing pairs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from redis.exceptions import WatchError

from montalaq._time import datetime_utc
from montalaq.calendars import ALWAYS_OPEN, normalize, session_at
from montalaq.celery.state import pair_field, release
from montalaq.celery.state import text as text_of
from montalaq.cycle import (
    FRESHNESS_CODE,
    ErrorMap,
    StatusRow,
    channel_changes,
    channel_error_type,
    escalate,
    event_doc,
    status_rows,
    upsert_status,
    write_status,
)
from montalaq.cycle import (
    notify_event as queue_event,
)
from montalaq.health import EscalationBoard, Freshness, OpState
from montalaq.ops import PairView, merge_sources, metrics_of, read_backlog
from montalaq.timeframes import parse_timeframe

if TYPE_CHECKING:
    from redis.client import Pipeline

    from montalaq.celery.runtime import Runtime

log = logging.getLogger("montalaq.celery")

_COLOURS = ("GREEN", "AMBER", "RED", "CLOSED")


@dataclass
class BoardCache:
    """A process's copy of the shared board and the index arrays of its pairs.

    ``version``: the shared version it was loaded at (or saved as); ``pairs``: (symbol,
    timeframe) per board index (None for a pair not in the watchlist); ``sym_idx``: per
    index, the position of its symbol in ``symbols`` (``len(symbols)`` when unknown);
    ``tf_ns``: per index, its timeframe in ns.
    """

    version: int
    board: EscalationBoard
    pairs: list[tuple[str, str] | None]
    symbols: list[str]
    sym_idx: npt.NDArray[np.int64]
    tf_ns: npt.NDArray[np.int64]
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    freshness: Freshness = field(default_factory=Freshness)
    cal_idx: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cal_names: list[str] = field(default_factory=lambda: [ALWAYS_OPEN])  # cal_idx -> name


def new_board(auto_close_cycles: int) -> EscalationBoard:
    """A board with the default thresholds and ``BREAKER_AUTO_CLOSE_CYCLES``."""
    return EscalationBoard(Freshness(), auto_close_cycles=auto_close_cycles)


def _index(
    board: EscalationBoard,
    version: int,
    pairs: Sequence[tuple[str, str]],
    freshness: Freshness,
    calendars: Mapping[str, str] | None = None,
) -> BoardCache:
    symbols = list(dict.fromkeys(s for s, _ in pairs))
    sym_pos = {s: i for i, s in enumerate(symbols)}
    cal = calendars or {}
    # Idempotent; registers new pairs and moves a pair whose calendar the watchlist changed.
    placed = [(board.add_pair(sym, tf, cal.get(sym, "24/7")), sym, tf) for sym, tf in pairs]
    n = len(board)
    by_index: list[tuple[str, str] | None] = [None] * n
    sym_idx = np.full(n, len(symbols), dtype=np.int64)
    tf_ns = np.zeros(n, dtype=np.int64)
    index: dict[tuple[str, str], int] = {}
    tf_cache: dict[str, int] = {}
    cal_names = [ALWAYS_OPEN]
    cal_pos = {ALWAYS_OPEN: 0}
    cal_idx = np.zeros(n, dtype=np.int64)  # a pair the watchlist no longer has: 24/7 as far as we know
    for i, sym, tf in placed:
        by_index[i] = (sym, tf)
        sym_idx[i] = sym_pos[sym]
        tf_ns[i] = tf_cache.setdefault(tf, parse_timeframe(tf))
        index[(sym, tf)] = i
        name = normalize(cal.get(sym, ALWAYS_OPEN))
        if name not in cal_pos:
            cal_pos[name] = len(cal_names)
            cal_names.append(name)
        cal_idx[i] = cal_pos[name]
    return BoardCache(version, board, by_index, symbols, sym_idx, tf_ns, index, freshness, cal_idx, cal_names)


def load_board(rt: Runtime) -> BoardCache:
    """The shared board (call with the board lock held): this process's cached copy when
    the shared version did not move, else the shared document, else a fresh board."""
    state = rt.state
    raw_version = state.client.get(state.key("board", "version"))
    version = int(raw_version) if raw_version is not None else 0
    cache = rt.board_cache
    if cache is not None and cache.version == version and raw_version is not None:
        return cache
    want = rt.settings.breaker_auto_close_cycles
    raw_doc = state.client.get(state.key("board"))
    if raw_doc is None:
        board = new_board(want)
        freshness = Freshness()
    else:
        doc = text_of(raw_doc)
        head = _document_head(doc)
        board = EscalationBoard.from_json(doc)
        if head["config"]["auto_close_cycles"] != want:
            # BREAKER_AUTO_CLOSE_CYCLES changed since the board was created: keep the state,
            # take the setting (the document is the core's; its config is a flat object).
            parsed = json.loads(doc)
            parsed["config"]["auto_close_cycles"] = want
            board = EscalationBoard.from_json(json.dumps(parsed))
        freshness = _freshness(head["freshness"])
    cache = _index(board, version, rt.watchlist.pairs(), freshness, rt.watchlist.calendars())
    rt.board_cache = cache
    return cache


def _document_head(doc: str) -> dict[str, Any]:
    """The board document's ``config`` and ``freshness`` without parsing its pairs (the
    core writes its keys sorted: config, format, freshness, pairs). ``config()`` of the
    native board costs as much as the whole document, so it is read from here."""
    cut = doc.find(',"pairs":')
    try:
        head = json.loads(doc[:cut] + "}") if cut > 0 else json.loads(doc)
    except ValueError:
        head = None
    if (
        not isinstance(head, dict)
        or not isinstance(head.get("config"), dict)
        or "auto_close_cycles" not in head["config"]
        or not isinstance(head.get("freshness"), dict)
        or "amber_mult" not in head["freshness"]
    ):
        raise ValueError("escalation board: the shared document is not a montalaq board")
    return head


def _freshness(cfg: Mapping[str, Any]) -> Freshness:
    fr = Freshness(float(cfg["amber_mult"]), float(cfg["red_mult"]))
    for o in cfg.get("overrides", []):
        fr.set_override(int(o["tf_ns"]), int(o["amber_after_ns"]), int(o["red_after_ns"]))
    return fr


def colour_codes(
    freshness: Freshness,
    tf_ns: npt.NDArray[np.int64],
    ticks: npt.NDArray[np.int64],
    now_ns: int,
    calendars: tuple[npt.NDArray[np.int64], Sequence[str]] | None = None,
) -> npt.NDArray[np.uint8]:
    """Freshness colour per pair (0 GREEN, 1 AMBER, 2 RED, 3 CLOSED) of pairs with
    timeframes ``tf_ns`` and last trades ``ticks`` (0: never) at ``now_ns``, vectorised with
    ``freshness``'s thresholds; ``calendars`` ``(index per pair, names)`` applies the
    board's market-calendar rule (CLOSED outside a session, age from the session's open
    inside it; docs/semantics.md, "Market calendars")."""
    amber = np.zeros(len(ticks), dtype=np.int64)
    red = np.zeros(len(ticks), dtype=np.int64)
    for tf in np.unique(tf_ns):
        if tf <= 0:
            continue
        a, r = freshness.thresholds(int(tf))
        sel = tf_ns == tf
        amber[sel], red[sel] = a, r
    closed = np.zeros(len(ticks), dtype=bool)
    if calendars is not None:
        cal_idx, names = calendars
        ticks = ticks.copy()
        for k, name in enumerate(names):
            if name == ALWAYS_OPEN:
                continue
            sel = cal_idx == k
            if not sel.any():
                continue
            is_open, open_ns = session_at(name, now_ns)
            if is_open:
                ticks[sel] = np.maximum(ticks[sel], open_ns)  # the open counts as a tick
            else:
                closed |= sel
    age = now_ns - ticks
    out = np.full(len(ticks), 2, dtype=np.uint8)
    known = (ticks > 0) & (tf_ns > 0)
    out[known & (age <= red)] = 1
    out[known & (age <= amber)] = 0
    out[closed] = 3
    return out


def colours(cache: BoardCache, ticks: npt.NDArray[np.int64], now_ns: int) -> npt.NDArray[np.uint8]:
    """:func:`colour_codes` of every board index with the board's own thresholds and the
    pairs' calendars (its rows are per-pair Python dicts: too slow to compare every cycle
    at 100,000 pairs)."""
    cals = (cache.cal_idx, cache.cal_names) if len(cache.cal_names) > 1 else None
    return colour_codes(cache.freshness, cache.tf_ns, ticks, now_ns, cals)


def _ticks(rt: Runtime, cache: BoardCache) -> npt.NDArray[np.int64]:
    """Last trade time per board index (0: never): the tick's packed array when it was
    written for this watchlist (one read), else the per-symbol hash."""
    packed = rt.state.last_trades_packed(rt.watchlist.digest, len(cache.symbols))
    if packed is not None and cache.symbols == rt.watchlist.symbols:
        sym_ticks = np.append(packed, np.int64(0))
    else:
        last = rt.state.last_trades()
        sym_ticks = np.array([last.get(s, 0) for s in cache.symbols] + [0], dtype=np.int64)
    return sym_ticks[cache.sym_idx]


def _event_doc(event: Mapping[str, Any]) -> str:
    return json.dumps(event_doc(event), default=str)


def _save(
    rt: Runtime,
    cache: BoardCache,
    *,
    consumed_failures: int = 0,
    events: Sequence[Mapping[str, Any]] = (),
    colour_codes: npt.NDArray[np.uint8] | None = None,
    eval_ns: int | None = None,
    last_errors: Mapping[tuple[str, str], tuple[int, str]] | None = None,
) -> None:
    """Store the board and what goes with it in one transaction (module docstring, step 4).

    Fenced by the version: when the shared board moved since ``cache`` was loaded (another
    evaluation ran because this one outlived its lock), nothing is written and
    :class:`BoardConflictError` is raised -- the later writer must not overwrite a newer board or
    trim failures it never applied."""
    state = rt.state
    text = cache.board.to_json()
    version_key = state.key("board", "version")
    pipe: Pipeline = state.client.pipeline(transaction=True)
    pipe.watch(version_key)  # type: ignore[no-untyped-call]
    raw = pipe.get(version_key)
    if (int(raw) if raw is not None else 0) != cache.version:
        pipe.reset()
        raise BoardConflictError(f"the shared board moved to version {raw!r} since {cache.version}")
    pipe.multi()
    pipe.set(state.key("board"), text)
    pipe.incr(state.key("board", "version"))
    if consumed_failures:
        pipe.ltrim(state.key("failures"), consumed_failures, -1)
    if events:
        pipe.rpush(state.key("events"), *[_event_doc(e) for e in events])
    for e in events:
        member = pair_field(e["symbol"], e["timeframe"])
        if e["kind"] == "breaker_open":
            pipe.sadd(state.key("breakers"), member)
        elif e["kind"] == "breaker_close":
            pipe.srem(state.key("breakers"), member)
    if colour_codes is not None:
        pipe.set(state.key("colours"), colour_codes.tobytes())
    if eval_ns is not None:
        pipe.set(state.key("eval_ns"), str(eval_ns))
    if last_errors:
        pipe.hset(
            state.key("last_error"),
            mapping={pair_field(*p): f"{at}|{code}" for p, (at, code) in last_errors.items()},
        )
    try:
        results = pipe.execute()
    except WatchError:
        raise BoardConflictError("the shared board moved while this evaluation saved it") from None
    cache.version = int(results[1])


class BoardConflictError(RuntimeError):
    """The shared board changed under an evaluation that outlived its lock (its result is
    dropped; the next evaluation starts from the shared board)."""


def notify_pending(rt: Runtime) -> int:
    """Queue the stored events in the outbox, oldest first, removing each once queued;
    returns how many (call with the board lock held). Stops at the first error (logged):
    the rest stay for the next holder."""
    state = rt.state
    key = state.key("events")
    errors = state.last_errors()
    done = 0
    while True:
        raw = state.client.lindex(key, 0)
        if raw is None:
            break
        event = json.loads(raw)
        try:
            notify_event(rt, event, errors.get((event["symbol"], event["timeframe"])))
        except Exception:
            log.exception(
                "could not queue the %s notification of %s %s",
                event.get("kind"),
                event.get("symbol"),
                event.get("timeframe"),
                extra={"component": "celery"},
            )
            break
        state.client.lpop(key)
        done += 1
    if done:
        state.incr("notifications_escalation", done)
    return done


def notify_event(rt: Runtime, event: Mapping[str, Any], last_error: tuple[int, str] | None) -> None:
    """Queue one level/breaker event, worded as every montalaq process words it."""
    queue_event(rt.notifier, event, last_error, _provider_of(rt, event["symbol"]))


def _provider_of(rt: Runtime, symbol: str) -> str | None:
    try:
        return rt.watchlist.provider_of(symbol)
    except ValueError:
        return None


def _status_rows(
    rt: Runtime,
    cache: BoardCache,
    which: Iterable[int] | None,
    now_ns: int,
    ticks: npt.NDArray[np.int64],
    errors: ErrorMap,
) -> list[StatusRow]:
    """The status rows of the board indices ``which`` (None: every watched pair)."""
    indices = range(len(cache.pairs)) if which is None else sorted(set(which))
    pairs = [p for i in indices if i < len(cache.pairs) and (p := cache.pairs[i]) is not None]
    tick_of = {p: int(ticks[cache.index[p]]) for p in pairs}
    rows = status_rows(
        cache.board,
        now_ns,
        pairs,
        last_tick=lambda s: None,
        errors=errors,
        provider_of=lambda s: _provider_of(rt, s),
    )
    for r in rows:
        r.last_tick_ns = tick_of.get((r.symbol, r.timeframe)) or None
    return rows


class _RedisBoardHost:
    """The Celery side of :func:`montalaq.cycle.escalate`: last trades from the tick's
    packed array, last errors in Redis, the result saved in one fenced transaction with
    the events kept in the pending list until they are queued."""

    component = "celery"

    def __init__(self, rt: Runtime, cache: BoardCache, failures: int, ticks: npt.NDArray[np.int64]) -> None:
        self.rt = rt
        self.cache = cache
        self.failures = failures
        self._ticks = ticks
        self.codes: npt.NDArray[np.uint8] | None = None
        self.which: set[int] | None = None
        self.failed_pairs: set[int] = set()
        prev = rt.state.client.get(rt.state.key("eval_ns"))
        self._prev_eval = int(prev) if prev is not None else 0

    def ticks(self) -> npt.NDArray[np.int64]:
        return self._ticks

    def last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        return self.rt.state.last_errors()

    def previous_eval_ns(self) -> int:
        return self._prev_eval

    def not_green(
        self, now_ns: int, ticks: Any, events: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str, str]]:
        """The pairs not GREEN among those whose rows this evaluation writes: every pair up
        to ``status_all_pairs_max`` (or without a previous colour array), else the pairs
        whose colour changed, that had an event, or that got a failure."""
        cache, state = self.cache, self.rt.state
        codes = colours(cache, self._ticks, now_ns)
        self.codes = codes
        prev_raw = state.client.get(state.key("colours"))
        which: set[int] | None = None
        if len(cache.pairs) > self.rt.options.status_all_pairs_max and prev_raw is not None:
            prev = np.frombuffer(
                prev_raw if isinstance(prev_raw, bytes) else prev_raw.encode(), dtype=np.uint8
            )
            if len(prev) == len(codes):
                which = set(self.failed_pairs) | {int(i) for i in np.nonzero(prev != codes)[0]}
        self.which = which
        candidates = range(len(codes)) if which is None else which
        # CLOSED (3) is not stale: outside the session no pair owes a trade.
        return [p for i in candidates if codes[i] in (1, 2) and (p := cache.pairs[i]) is not None]

    def commit(self, events: Sequence[Mapping[str, Any]], new_errors: ErrorMap, now_ns: int) -> None:
        _save(
            self.rt,
            self.cache,
            consumed_failures=self.failures,
            events=events,
            colour_codes=self.codes,
            eval_ns=now_ns,
            last_errors=new_errors,
        )

    def notify(self, errors: ErrorMap) -> int:
        return notify_pending(self.rt)


def evaluate(rt: Runtime) -> dict[str, Any]:
    """One escalation cycle (module docstring) through :func:`montalaq.cycle.escalate`;
    returns what it did."""
    t0 = time.perf_counter()
    st = rt.operational_state()
    if st in (OpState.ERROR, OpState.SHUTDOWN):
        return {"evaluated": False, "reason": f"worker {st.name}: {rt.lifecycle.reason}"}
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        state.incr("escalation_busy")
        return {"evaluated": False, "reason": "another evaluation holds the board lock"}
    status: list[StatusRow] = []
    saved = False
    try:
        notify_pending(rt)
        now = rt.now_ns()
        cache = load_board(rt)
        board = cache.board
        failures = state.failures()
        failed_pairs: set[int] = set()
        for sym, tf, at_ns, code in failures:
            board.record_failure(sym, tf, at_ns, code)
            i = cache.index.get((sym, tf))
            if i is not None:
                failed_pairs.add(i)
        ticks = _ticks(rt, cache)
        if len(ticks) != len(board):  # record_failure registered a pair the watchlist lacks
            cache = _index(
                board, cache.version, rt.watchlist.pairs(), cache.freshness, rt.watchlist.calendars()
            )
            rt.board_cache = cache
            ticks = _ticks(rt, cache)
        host = _RedisBoardHost(rt, cache, len(failures), ticks)
        host.failed_pairs = failed_pairs
        try:
            esc = escalate(board, host, now)
        except BoardConflictError as exc:
            state.incr("escalation_conflicts")
            log.warning("escalation result dropped: %s", exc, extra={"component": "celery"})
            return {"evaluated": False, "reason": str(exc)}
        saved = True
        state.incr("escalation_cycles")
        state.incr("escalation_events", len(esc.events))
        status = _status_rows(rt, cache, host.which, now, ticks, esc.errors)
        _observe_channels(rt)
        _record_metrics(rt, cache, ticks, host.codes, now, time.perf_counter() - t0)
        report: dict[str, Any] = {
            "evaluated": True,
            "now_ns": now,
            "pairs": len(board),
            "failures": len(failures),
            "events": len(esc.events),
            "notified": esc.notified,
            "breakers_open": sum(1 for e in esc.events if e["kind"] == "breaker_open"),
        }
    finally:
        if not saved:
            # The cached board was changed in place (failures, evaluation) but not saved:
            # reusing it would apply the same failures twice. Reload from Redis next time.
            rt.board_cache = None
        release(lock, "board")
    try:
        report["status_rows"] = write_status(rt.store, status, now)
        if status:
            rt.lifecycle.report("database", None)
    except Exception as exc:
        rt.lifecycle.report("database", exc)
        log.exception("ingestion_status not written", extra={"component": "celery"})
        report["status_rows"] = 0
        # Forget the colours these rows were computed against, so the next evaluation
        # rewrites every row instead of only the ones that change again.
        state.client.delete(state.key("colours"))
    report["seconds"] = time.perf_counter() - t0
    if report["notified"]:
        rt.request_delivery()
    return report


def _observe_channels(rt: Runtime) -> None:
    """The shared channel breakers (call with the board lock held): an outage is reported
    once per episode, a recovery resolved once, cluster-wide."""
    state = rt.state
    key = state.key("failing_channels")
    before = {text_of(m) for m in state.client.smembers(key)}
    opened, closed = channel_changes(rt.notifier, before)
    for name in opened:
        state.client.sadd(key, name)
        state.client.hincrby(state.key("errors_by_code"), channel_error_type(name), 1)
        try:
            rt.notifier.report_error(channel_error_type(name), f"channel {name}: its breaker opened")
        except Exception:
            log.exception("could not report channel %s", name, extra={"component": "celery"})
    for name in closed:
        state.client.srem(key, name)
        try:
            rt.notifier.resolve_error(channel_error_type(name))
        except Exception:
            log.exception("could not resolve channel %s", name, extra={"component": "celery"})


def _record_metrics(
    rt: Runtime,
    cache: BoardCache,
    ticks: npt.NDArray[np.int64],
    codes: npt.NDArray[np.uint8] | None,
    now_ns: int,
    cycle_s: float,
) -> None:
    """The cycle's metrics to this worker's monitoring (call with the board lock held: the
    rule state is shared in Redis, so an alert fires once whichever worker evaluates).
    Per-pair metrics up to ``status_all_pairs_max`` pairs; above, the counts only."""
    mon = rt.monitoring
    if mon is None or codes is None:
        return
    state = rt.state
    try:
        raw = state.client.get(state.key("monitoring", "rules"))
        if raw is not None:
            mon.rules.load_state_json(text_of(raw))
        breakers = state.open_breakers()
        n = sum(1 for p in cache.pairs if p is not None)
        views: list[PairView] = []
        totals: tuple[int, int, int, int, int] | None = None
        if n <= rt.options.status_all_pairs_max:
            views = [
                PairView(p[0], p[1], _COLOURS[int(codes[i])], p in breakers, int(ticks[i]) or None)
                for i, p in enumerate(cache.pairs)
                if p is not None
            ]
        else:  # counts only: no per-pair Python objects at 100,000 pairs
            counts = np.bincount(codes, minlength=4)
            totals = (int(counts[0]), int(counts[1]), int(counts[2]), int(counts[3]), len(breakers))
        counters = state.counters()
        errors = {text_of(k): int(v) for k, v in state.client.hgetall(state.key("errors_by_code")).items()}
        metrics = metrics_of(
            now_ns,
            views,
            state=rt.lifecycle.state.name,
            cycle_s=cycle_s,
            uptime_s=max(0.0, time.monotonic() - rt.started_mono_s),
            notifier=rt.notifier,
            backlog=read_backlog(rt.store, now_ns),
            counters={
                k: counters.get(k, 0) for k in ("ticks", "bars_queued", "provider_errors", "analyses_failed")
            },
            errors=errors,
            totals=totals,
        )
        mon.record_tick(merge_sources(metrics, rt.plugins.metric_sources))
        mon.flush()
        state.client.set(state.key("monitoring", "rules"), mon.rules.state_json())
    except Exception:  # monitoring never breaks the escalation
        log.exception("cycle metrics not recorded", extra={"component": "celery"})


def close_breaker(rt: Runtime, symbol: str, timeframe: str, by: str = "operator") -> dict[str, Any]:
    """Operator close of one pair's breaker (SPEC §4.3): ``{symbol, timeframe, closed,
    breaker_open, event}``; the close is notified and written to ``ingestion_status``.
    ValueError for a pair not in the watchlist; TimeoutError when the board stays locked."""
    from montalaq.timeframes import timeframe_label

    tf = timeframe_label(parse_timeframe(timeframe))
    if (symbol, tf) not in set(rt.watchlist.pairs()):
        raise ValueError(
            f"pair: ({symbol!r}, {tf!r}) is not in the watchlist; watched: {rt.watchlist.pairs()}"
        )
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=True, blocking_timeout=rt.options.lock_timeout_s):
        raise TimeoutError(f"board lock not acquired within {rt.options.lock_timeout_s} s")
    try:
        now = rt.now_ns()
        cache = load_board(rt)
        event = cache.board.close_breaker(symbol, tf, by=by, now=now)
        if event is not None:
            _save(rt, cache, events=[event])
            notify_pending(rt)
            i = cache.index[(symbol, tf)]
            rows = _status_rows(rt, cache, [i], now, _ticks(rt, cache), state.last_errors())
        is_open = cache.board.breaker_open(symbol, tf)
    finally:
        release(lock, "board")
    if event is not None:
        write_status(rt.store, rows, now)
        rt.request_delivery()
        log.info(
            "breaker %s %s closed by %s", symbol, tf, by, extra={"component": "celery", "symbol": symbol}
        )
    return {
        "symbol": symbol,
        "timeframe": tf,
        "closed": event is not None,
        "breaker_open": is_open,
        "event": None if event is None else json.loads(_event_doc(event)),
    }


def breaker_tick(rt: Runtime) -> dict[str, Any]:
    """The breaker task: reconcile the shared open-breaker set and the ``breaker_open``
    column of ``ingestion_status`` with the board; returns the open breakers."""
    state = rt.state
    lock = state.lock("board", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        return {"checked": False, "reason": "the board is locked"}
    try:
        raw_version = state.client.get(state.key("board", "version"))
        if raw_version is None:
            return {"checked": True, "open": []}
        now = rt.now_ns()
        cache = load_board(rt)
        rows = cache.board.pairs(now)
        open_now = {pair_field(str(r["symbol"]), str(r["timeframe"])) for r in rows if r["breaker_open"]}
        in_set = {text_of(m) for m in state.client.smembers(state.key("breakers"))}
        pipe = state.client.pipeline(transaction=True)
        if open_now - in_set:
            pipe.sadd(state.key("breakers"), *(open_now - in_set))
        if in_set - open_now:
            pipe.srem(state.key("breakers"), *(in_set - open_now))
        pipe.execute()
    finally:
        release(lock, "board")
    fixed = 0
    try:
        stored = {(r["symbol"], r["timeframe"]): bool(r["breaker_open"]) for r in rt.store.ingestion_status()}
        for r in rows:
            key = (str(r["symbol"]), str(r["timeframe"]))
            if key in stored and stored[key] != bool(r["breaker_open"]):
                rt.store.upsert_ingestion_status(
                    key[0], key[1], now=datetime_utc(now), breaker_open=bool(r["breaker_open"])
                )
                fixed += 1
    except Exception:
        log.exception("breaker_open columns not reconciled", extra={"component": "celery"})
    state.incr("breaker_ticks")
    return {
        "checked": True,
        "open": sorted(open_now),
        "set_fixed": len(open_now ^ in_set),
        "rows_fixed": fixed,
    }


__all__ = [
    "FRESHNESS_CODE",
    "BoardCache",
    "StatusRow",
    "breaker_tick",
    "close_breaker",
    "colour_codes",
    "colours",
    "evaluate",
    "load_board",
    "new_board",
    "notify_event",
    "notify_pending",
    "upsert_status",
    "write_status",
]
