"""The scheduler tick (docs/semantics.md, "Celery", "Tick"): under the tick lock, ingest the
watchlist's feeds up to now bar by bar (:mod:`montalaq.celery.feed`), queue one analysis
per closed bar of a GREEN pair whose breaker is closed, write the status rows of the pairs
whose freshness colour changed, report the providers and run the agents that are due."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from redis.exceptions import LockError
from redis.lock import Lock

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.calendars import ALWAYS_OPEN
from montalaq.celery.colours import COLOUR_NAMES, colour_codes
from montalaq.celery.feed import FeedContext
from montalaq.celery.runtime import Runtime
from montalaq.celery.state import FeedRecord, release, text
from montalaq.celery.status import write_rows
from montalaq.cycle import code_name as _code_name
from montalaq.cycle import consult_analyst, provider_failed, run_agents, store_findings, upsert_status
from montalaq.engine import Bar
from montalaq.health import Colour, Freshness, OpState
from montalaq.shapes import TickReport

log = logging.getLogger("montalaq.celery")

_NS = 1_000_000_000

Enqueue = Callable[[dict[str, Any]], None]
"""Sends one analysis request (a JSON-ready dict) to the analysis task."""


def tick(rt: Runtime, enqueue: Enqueue) -> TickReport:
    """One scheduler tick (module docstring); returns what it did."""
    t0 = time.perf_counter()
    idle = _idle(rt)
    if idle is not None:
        return {"ticked": False, "reason": idle}
    state = rt.state
    lock = state.lock("tick", rt.options.lock_timeout_s)
    if not lock.acquire(blocking=False):
        state.incr("tick_busy")
        return {"ticked": False, "reason": "another tick holds the tick lock"}
    status: list[dict[str, Any]] = []
    report: TickReport = {
        "ticked": True,
        "queued": 0,
        "skipped_breaker": 0,
        "skipped_not_green": 0,
        "not_green": [],
    }
    try:
        wall = time.time_ns()
        record = _feed_record(rt, wall)
        rt.set_clock(record)
        now = record.now_ns(wall)
        ctx, rebuilt = _feed_context(rt, record)
        bars = _BarQueue(rt, ctx, record, enqueue, report)
        steps = ctx.steps(now)
        for at in steps:
            # A long catch-up (many steps, slow providers) keeps the lock alive; one that lost
            # it (a single step outlived lock_timeout_s) stops: another tick may run, and this
            # one's bars are queued again by whichever tick advances the feed (the analyses'
            # claims drop the repeats).
            if not _keep(lock):
                _lock_lost(rt)
                return {**report, "ticked": False, "reason": "the tick lock expired mid-tick"}
            bars.step(at)
        # Never backwards (a wall clock stepped back): the cursor is what the feed ingested.
        state.advance(
            max(now, ctx.until_ns),
            bars.changed,
            ctx.last_trades(),
            order=rt.watchlist.symbols,
            digest=rt.watchlist.digest,
        )
        status, report["not_green"] = _colour_changes(rt, ctx, now)
        for sym, exc in bars.failing.items():
            _provider_error(rt, sym, exc, now)
        _provider_outcomes(rt, bars.failing)
        findings = _run_agents(rt, ctx, now)
        report.update({"now_ns": now, "steps": len(steps), "rebuilt": rebuilt, "findings": findings})
    finally:
        release(lock, "tick")
    state.incr("ticks")
    state.incr("bars_queued", report["queued"])
    state.incr("bars_skipped_breaker", report["skipped_breaker"])
    state.incr("bars_skipped_not_green", report["skipped_not_green"])
    write_rows(rt, lambda: upsert_status(rt.store, status), forget="tick_colours")
    report["seconds"] = time.perf_counter() - t0
    return report


def _idle(rt: Runtime) -> str | None:
    """Why this worker runs no cycle work now (ERROR or SHUTDOWN), else None. The first
    call runs the worker's start-up checks."""
    st = rt.operational_state()
    if st in (OpState.ERROR, OpState.SHUTDOWN):
        return f"worker {st.name}: {rt.lifecycle.reason}"
    return None


def _feed_record(rt: Runtime, wall_ns: int) -> FeedRecord:
    """The shared feed clock and cursor: started at ``wall_ns`` the first time, re-anchored
    (time kept continuous) when this worker's watchlist is not the one the feed last ran."""
    state = rt.state
    wl = rt.watchlist
    record = state.feed()
    if record is None:
        warm_ns = round(wl.warmup_s * _NS)
        record = FeedRecord(
            origin_ns=wall_ns - warm_ns,
            first_bar_ns=wall_ns,
            anchor_wall_ns=wall_ns,
            anchor_virtual_ns=wall_ns,
            speed=wl.speed,
            cursor_ns=wall_ns,
            digest=wl.digest,
        )
        state.save_feed(record)
        log.info(
            "feed started: %d pairs, speed %s, warm-up %s s",
            len(wl.pairs()),
            wl.speed,
            wl.warmup_s,
            extra={"component": "celery"},
        )
    elif record.digest != wl.digest:
        # Another watchlist (edited, or a worker of another deployment): keep the virtual
        # time continuous, take this watchlist's speed; contexts rebuild for it.
        record = replace(
            record,
            anchor_wall_ns=wall_ns,
            anchor_virtual_ns=record.now_ns(wall_ns),
            speed=wl.speed,
            digest=wl.digest,
        )
        state.save_feed(record)
        log.warning(
            "this worker's watchlist differs from the one the feed last ran (an edit, or workers "
            "loading different files): the feed follows this one now; every worker must load the same",
            extra={"component": "celery"},
        )
    return record


def _feed_context(rt: Runtime, record: FeedRecord) -> tuple[FeedContext, bool]:
    """This process's feed engine for ``record``, and whether it was rebuilt (first use,
    another watchlist or origin, or a cursor behind what the engine ingested)."""
    ctx = rt.feed_context
    if ctx is None or not ctx.matches(record.digest, record.origin_ns) or ctx.until_ns > record.cursor_ns:
        ctx = FeedContext(rt.watchlist, record.origin_ns, rt.plugins.provider_factory)
        rt.feed_context = ctx
        return ctx, True
    return ctx, False


def _keep(lock: Lock) -> bool:
    """Extend ``lock`` to its full timeout again; False when it is no longer held."""
    try:
        lock.reacquire()
    except LockError:
        return False
    return True


def _lock_lost(rt: Runtime) -> None:
    rt.state.incr("tick_lock_lost")
    log.warning(
        "the tick lock expired mid-tick: this tick stops without advancing the feed; "
        "raise CeleryOptions.lock_timeout_s above the longest provider call",
        extra={"component": "celery"},
    )


class _BarQueue:
    """One tick's walk over the feed's steps. Each step's closed bars of watchlist pairs,
    newer than the pair's high-water mark, are queued for analysis, except those of a pair
    whose breaker is open or that is not GREEN (counted in ``report``). ``changed``: the
    high-water marks to store; ``failing``: each failing symbol's first provider error."""

    def __init__(
        self, rt: Runtime, ctx: FeedContext, record: FeedRecord, enqueue: Enqueue, report: TickReport
    ) -> None:
        self.rt = rt
        self.ctx = ctx
        self.record = record
        self.enqueue = enqueue
        self.report = report
        self.pairs = set(rt.watchlist.pairs())
        self.hw = rt.state.high_water()
        self.changed: dict[tuple[str, str], int] = {}
        for p in self.pairs:
            if p not in self.hw:  # a pair new to the feed: its bars from now on
                self.hw[p] = self.changed[p] = record.cursor_ns - 1
        self.breakers = rt.state.open_breakers()
        self.freshness = Freshness()
        self.failing: dict[str, BaseException] = {}

    def step(self, at: int) -> None:
        """Ingest up to ``at`` and queue the bars that closed."""
        res = self.ctx.step(at)
        for symbols, exc in res.errors:
            for sym in symbols:
                self.failing.setdefault(sym, exc)
        bars = [
            b
            for b in res.bars
            if (b.symbol, b.timeframe) in self.pairs
            and b.start_ns >= self.record.first_bar_ns
            and b.start_ns > self.hw[(b.symbol, b.timeframe)]
        ]
        if not bars:
            return
        bars.sort(key=lambda b: (b.start_ns, b.timeframe))
        last = self.ctx.last_trades()
        features: dict[str, dict[str, float | None]] = {}
        for bar in bars:
            self._bar(bar, at, last, features)

    def _bar(
        self, bar: Bar, at: int, last: Mapping[str, int], features: dict[str, dict[str, float | None]]
    ) -> None:
        p = (bar.symbol, bar.timeframe)
        prev = self.hw[p]
        self.hw[p] = self.changed[p] = int(bar.start_ns)
        if p in self.breakers:
            self.report["skipped_breaker"] += 1
            return
        colour = self.freshness.colour(bar.timeframe, at, last.get(bar.symbol))
        if colour != Colour.GREEN:  # a feed delivering late: its bar is stale already
            self.report["skipped_not_green"] += 1
            return
        if bar.symbol not in features:
            features[bar.symbol] = dict(self.ctx.engine.signals_tf(bar.symbol))
        self.enqueue(
            {
                "symbol": bar.symbol,
                "timeframe": bar.timeframe,
                "start_ns": int(bar.start_ns),
                "close": finite_or_none(bar.close),
                "atr": finite_or_none(bar.atr),
                "features": features[bar.symbol],
                "prev_start_ns": prev if prev >= self.record.first_bar_ns else None,
                "queued_wall_ns": time.time_ns(),
            }
        )
        self.rt.state.mark_queued(bar.symbol, bar.timeframe, int(bar.start_ns), self.rt.options.claim_ttl_s)
        self.report["queued"] += 1


def _colour_changes(rt: Runtime, ctx: FeedContext, now_ns: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Status values of the pairs whose freshness colour at ``now_ns`` differs from what the
    previous tick saw (freshness, last trade, provider; vectorised over the watchlist), and
    the pairs (``SYMBOL|TF``) that are not GREEN."""
    ticks = ctx.pair_last_trades()
    cal_of = rt.watchlist.calendars()
    names = sorted(set(cal_of.values()) | {ALWAYS_OPEN})
    cals = None
    if len(names) > 1:  # some symbol is on a market calendar: CLOSED outside its sessions
        pos = {n: k for k, n in enumerate(names)}
        cals = (np.array([pos[cal_of.get(sym, ALWAYS_OPEN)] for sym, _ in ctx.pairs], dtype=np.int64), names)
    codes = colour_codes(Freshness(), ctx.pair_tf_ns, ticks, now_ns, cals)
    key = rt.state.key("tick_colours")
    raw = rt.state.client.get(key)
    prev = None if raw is None else np.frombuffer(raw if isinstance(raw, bytes) else raw.encode(), np.uint8)
    changed = range(len(codes)) if prev is None or len(prev) != len(codes) else np.nonzero(prev != codes)[0]
    rt.state.client.set(key, codes.tobytes())
    at = datetime_utc(now_ns)
    out: list[dict[str, Any]] = []
    for i in changed:
        sym, tf = ctx.pairs[int(i)]
        last = int(ticks[int(i)])
        out.append(
            {
                "symbol": sym,
                "timeframe": tf,
                "provider": rt.watchlist.provider_of(sym),
                "freshness": COLOUR_NAMES[int(codes[int(i)])],
                "last_tick_at": datetime_utc(last) if last else None,
                "updated_at": at,
            }
        )
    stale = np.nonzero((codes == 1) | (codes == 2))[0]  # CLOSED (3) owes no trade
    not_green = [f"{ctx.pairs[int(i)][0]}|{ctx.pairs[int(i)][1]}" for i in stale]
    return out, not_green


def _provider_error(rt: Runtime, symbol: str, exc: BaseException, now_ns: int) -> None:
    entry = rt.watchlist.entry(symbol)
    name = provider_failed(rt.notifier, entry.provider, [symbol], exc, first=True, component="celery")
    rt.state.set_last_errors(entry.pairs(), now_ns, name)
    rt.state.incr("provider_errors")
    rt.state.client.hincrby(rt.state.key("errors_by_code"), name, 1)


def _provider_outcomes(rt: Runtime, failing: Mapping[str, BaseException]) -> None:
    """Report each provider to the lifecycle (failed when any of its symbols failed this
    tick), and resolve an error code once no provider fails with it any more (one
    recovery message, cluster-wide: the failing providers are kept in Redis)."""
    state = rt.state
    key = state.key("failing_providers")
    failed: dict[str, BaseException] = {}
    for sym, exc in failing.items():
        failed.setdefault(rt.watchlist.entry(sym).provider, exc)
    before = {text(k): text(v) for k, v in state.client.hgetall(key).items()}
    now_failing = dict(before)
    for name in sorted({rt.watchlist.entry(s).provider for s in rt.watchlist.symbols}):
        err = failed.get(name)
        rt.lifecycle.report(f"provider:{name}", err)
        if err is not None:
            now_failing[name] = _code_name(err)
        else:
            now_failing.pop(name, None)
    if now_failing != before:
        pipe = state.client.pipeline(transaction=True)
        pipe.delete(key)
        if now_failing:
            pipe.hset(key, mapping=dict(now_failing))  # type: ignore[arg-type]
        pipe.execute()
    for code in set(before.values()) - set(now_failing.values()):
        try:
            if rt.notifier.resolve_error(code):
                rt.request_delivery()
        except Exception:
            log.exception("could not resolve %s", code, extra={"component": "celery"})


def _run_agents(rt: Runtime, ctx: FeedContext, now_ns: int) -> int:
    """Run the agents due at ``now_ns`` (their last runs are shared); returns the findings."""
    registry = rt.agents
    if registry is None or len(registry) == 0:
        return 0
    key = rt.state.key("agents")
    last = {text(k): int(v) for k, v in rt.state.client.hgetall(key).items()}
    due = [s.name for s in registry if s.name not in last or now_ns - last[s.name] >= int(s.interval_s * _NS)]
    if not due:
        return 0
    findings = run_agents(registry, due, ctx.engine, rt.watchlist.symbols, now_ns, rt.settings)
    n, _ = store_findings(rt.store, findings, "celery")
    consult_analyst(rt.analyst, registry, ctx.engine, rt.store, findings, now_ns)
    rt.state.client.hset(key, mapping=dict.fromkeys(due, str(now_ns)))
    rt.state.incr("findings", n)
    return n


__all__ = ["Enqueue", "tick"]
