"""The bodies of montalaq's Celery tasks, as plain functions of a :class:`Runtime`
(``install`` wraps them in Celery tasks; tests and benchmarks may call them directly).

- :func:`tick` -- the scheduler tick (SPEC §10.2): under the tick lock, ingest the
  watchlist's feeds up to now (bar by bar, see :mod:`montalaq.celery.feed`), and for each
  bar that closed on a watchlist pair: skip it when the pair's breaker is open, queue one
  analysis when the pair is GREEN (a bar closing with a stale last trade -- a feed
  delivering late -- is not analysed). Every pair whose freshness colour changed since the
  previous tick gets its status row updated (freshness, last trade, provider) at once,
  without waiting for the escalation. Then run the agents whose interval has passed.
- :func:`analyse` -- one analysis of one closed bar, idempotent per (symbol, timeframe,
  bar): claimed in Redis (see :mod:`montalaq.celery.state`), run by
  :class:`~montalaq.analysis.AnalysisRunner` (one ``trade_analysis`` row per bar, upserted),
  its signal notified at most once by the signal hook (Redis dedupe, then the database claim
  ``claim_signal_bar``). A FAILED analysis is queued for the board. A bar whose pair's
  breaker opened after the tick queued it is skipped when its task runs.
- :func:`kpi_rollup` (in :mod:`montalaq.celery.kpi`) and :func:`deliver` -- the KPI window
  and one notification delivery pass.

Decisions:

- **A redelivered analysis** (its worker died while running it) runs again (its row is
  upserted), and the signal hook settles its signal: when the database says the bar was
  claimed already (by the dead attempt, which may have died before queueing), the
  notification is queued again under the claim's own idempotency key -- the outbox keeps
  one row per key and channel, so a notification the dead attempt had queued is not queued
  twice and one it had not is not lost.
- **A failing signal hook** (the database or Redis failed between the claim and the
  outbox) is retried twice in the task, then the analysis is given back and retried like a
  store failure; the hook is safe to call again (see :mod:`montalaq.notify.signals`).
- **Analyses of a pair run in bar order**: a bar's task waits (retries after 0.25-2 s) while
  the pair's previous bar is queued or running, for at most ``order_wait_s`` after it was
  queued. A late analysis would otherwise meet the rule "a bar older than the last one
  signalled never notifies" and its signal would be dropped.
- **The store is down**: the analysis is given back and retried with backoff
  (``store_retries`` times, 1 s doubling to 60 s); then it is recorded as a failure of the
  pair (its error code) and dropped.
- **Times**: analyses, findings and failures are stamped with the feed's clock (the wall
  clock unless a replay is accelerated), like ``montalaq.Service`` with a replay clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from redis.exceptions import LockError
from redis.lock import Lock

from montalaq._time import datetime_utc
from montalaq._validate import finite_or_none
from montalaq.calendars import ALWAYS_OPEN
from montalaq.celery.escalation import colour_codes
from montalaq.celery.feed import FeedContext
from montalaq.celery.runtime import Runtime
from montalaq.celery.state import FeedRecord, pair_field, release, text
from montalaq.cycle import code_name as _code_name
from montalaq.cycle import consult_analyst, provider_failed, run_agents, store_findings, upsert_status
from montalaq.errors import ErrorCode
from montalaq.health import Colour, Freshness, OpState
from montalaq.notify import SignalDecision
from montalaq.records import Analysis, AnalysisStatus

log = logging.getLogger("montalaq.celery")

_NS = 1_000_000_000
_COLOUR_NAMES = ("GREEN", "AMBER", "RED", "CLOSED")

Enqueue = Callable[[dict[str, Any]], None]
"""Sends one analysis request (a JSON-ready dict) to the analysis task."""


# ------------------------------------------------------------------------------ the tick


def _feed_record(rt: Runtime, wall_ns: int) -> FeedRecord:
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


def _keep(lock: Lock) -> bool:
    """Extend ``lock`` to its full timeout again; False when it is no longer held."""
    try:
        lock.reacquire()
    except LockError:
        return False
    return True


def tick(rt: Runtime, enqueue: Enqueue) -> dict[str, Any]:
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
    report: dict[str, Any] = {
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
        ctx = rt.feed_context
        rebuilt = False
        if ctx is None or not ctx.matches(record.digest, record.origin_ns) or ctx.until_ns > record.cursor_ns:
            ctx = FeedContext(rt.watchlist, record.origin_ns, rt.plugins.provider_factory)
            rt.feed_context = ctx
            rebuilt = True
        pairs = set(rt.watchlist.pairs())
        hw = state.high_water()
        changed: dict[tuple[str, str], int] = {}
        for p in pairs:
            if p not in hw:  # a pair new to the feed: its bars from now on
                hw[p] = changed[p] = record.cursor_ns - 1
        breakers = state.open_breakers()
        freshness = Freshness()
        failing: dict[str, BaseException] = {}
        steps = ctx.steps(now)
        for at in steps:
            # A long catch-up (many steps, slow providers) keeps the lock alive; one that lost
            # it (a single step outlived lock_timeout_s) stops: another tick may run, and this
            # one's bars are queued again by whichever tick advances the feed (the analyses'
            # claims drop the repeats).
            if not _keep(lock):
                state.incr("tick_lock_lost")
                log.warning(
                    "the tick lock expired mid-tick: this tick stops without advancing the feed; "
                    "raise CeleryOptions.lock_timeout_s above the longest provider call",
                    extra={"component": "celery"},
                )
                return {**report, "ticked": False, "reason": "the tick lock expired mid-tick"}
            res = ctx.step(at)
            for symbols, exc in res.errors:
                for sym in symbols:
                    failing.setdefault(sym, exc)
            bars = [
                b
                for b in res.bars
                if (b.symbol, b.timeframe) in pairs
                and b.start_ns >= record.first_bar_ns
                and b.start_ns > hw[(b.symbol, b.timeframe)]
            ]
            if not bars:
                continue
            bars.sort(key=lambda b: (b.start_ns, b.timeframe))
            last = ctx.last_trades()
            features: dict[str, dict[str, float | None]] = {}
            for bar in bars:
                p = (bar.symbol, bar.timeframe)
                prev = hw[p]
                hw[p] = changed[p] = int(bar.start_ns)
                if p in breakers:
                    report["skipped_breaker"] += 1
                    continue
                colour = freshness.colour(bar.timeframe, at, last.get(bar.symbol))
                if colour != Colour.GREEN:  # a feed delivering late: its bar is stale already
                    report["skipped_not_green"] += 1
                    continue
                if bar.symbol not in features:
                    features[bar.symbol] = dict(ctx.engine.signals_tf(bar.symbol))
                enqueue(
                    {
                        "symbol": bar.symbol,
                        "timeframe": bar.timeframe,
                        "start_ns": int(bar.start_ns),
                        "close": finite_or_none(bar.close),
                        "atr": finite_or_none(bar.atr),
                        "features": features[bar.symbol],
                        "prev_start_ns": prev if prev >= record.first_bar_ns else None,
                        "queued_wall_ns": time.time_ns(),
                    }
                )
                state.mark_queued(bar.symbol, bar.timeframe, int(bar.start_ns), rt.options.claim_ttl_s)
                report["queued"] += 1
        # Never backwards (a wall clock stepped back): the cursor is what the feed ingested.
        state.advance(
            max(now, ctx.until_ns),
            changed,
            ctx.last_trades(),
            order=rt.watchlist.symbols,
            digest=rt.watchlist.digest,
        )
        status, report["not_green"] = _colour_changes(rt, ctx, now)
        for sym, exc in failing.items():
            _provider_error(rt, sym, exc, now)
        _provider_outcomes(rt, failing)
        findings = _run_agents(rt, ctx, now)
        report.update(now_ns=now, steps=len(steps), rebuilt=rebuilt, findings=findings)
    finally:
        release(lock, "tick")
    state.incr("ticks")
    state.incr("bars_queued", report["queued"])
    state.incr("bars_skipped_breaker", report["skipped_breaker"])
    state.incr("bars_skipped_not_green", report["skipped_not_green"])
    try:
        if upsert_status(rt.store, status):
            rt.lifecycle.report("database", None)
    except Exception as exc:
        rt.lifecycle.report("database", exc)
        log.exception("ingestion_status not written", extra={"component": "celery"})
        # Forget the colours these rows were computed against: the next tick rewrites them.
        state.client.delete(state.key("tick_colours"))
    report["seconds"] = time.perf_counter() - t0
    return report


def _idle(rt: Runtime) -> str | None:
    """Why this worker runs no cycle work now (ERROR or SHUTDOWN), else None. The first
    call runs the worker's start-up checks."""
    st = rt.operational_state()
    if st in (OpState.ERROR, OpState.SHUTDOWN):
        return f"worker {st.name}: {rt.lifecycle.reason}"
    return None


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
                "freshness": _COLOUR_NAMES[int(codes[int(i)])],
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


# ------------------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class BarSnapshot:
    """The closed bar an analysis reads: open time (int ns), close and ATR (NaN while
    undefined), as the tick saw them."""

    start_ns: int
    close: float
    atr: float


def _signal(rt: Runtime, analysis: Analysis) -> SignalDecision | None:
    """The signal hook on a finished analysis, tried three times (0.2 s, 0.4 s apart);
    raises the last error."""
    if analysis.status is not AnalysisStatus.COMPLETE:
        return None
    for attempt in range(3):
        try:
            return rt.signal_hook.on_analysis(analysis, now=datetime_utc(rt.now_ns()))
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.2 * 2**attempt)
    return None  # pragma: no cover - the loop returns or raises


def analyse(rt: Runtime, request: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    """Analyse one bar (module docstring). ``request``: what the tick queued. Returns
    ``{status, ...}`` with status ``done``/``busy`` (a duplicate: nothing done), ``wait``
    (retry later: the pair's previous bar is not finished), ``store_error`` (retry later),
    ``skipped_breaker`` (the pair's breaker is open) or ``COMPLETE``/``FAILED``."""
    state = rt.state
    sym, tf, start = str(request["symbol"]), str(request["timeframe"]), int(request["start_ns"])
    raw_prev = request.get("prev_start_ns")
    queued = int(request.get("queued_wall_ns") or 0)
    prev = None
    if raw_prev is not None and time.time_ns() - queued < rt.options.order_wait_s * _NS:
        prev = int(raw_prev)
    verdict = state.claim(sym, tf, start, prev, task_id, rt.options.analysis_lease_s)
    if verdict in ("done", "busy"):
        state.incr("analyses_duplicate")
        return {"status": verdict}
    if verdict == "wait":
        state.incr("analyses_order_waits")
        return {"status": "wait"}
    if state.client.sismember(state.key("breakers"), pair_field(sym, tf)):
        # The breaker opened after the tick queued the bar: analyses of the pair stop now.
        state.finish(sym, tf, start, rt.options.claim_ttl_s)
        state.incr("bars_skipped_breaker")
        return {"status": "skipped_breaker", "symbol": sym, "timeframe": tf}
    redelivered = verdict == "again"
    if redelivered:
        state.incr("analyses_redelivered")
        log.warning(
            "analysis of %s %s @%d redelivered (its worker died): running it again",
            sym,
            tf,
            start,
            extra={"component": "celery", "symbol": sym, "timeframe": tf},
        )
    close, atr = request.get("close"), request.get("atr")
    bar = BarSnapshot(
        start, math.nan if close is None else float(close), math.nan if atr is None else float(atr)
    )
    features = dict(request.get("features") or {})
    decision: SignalDecision | None
    rt.operational_state()
    try:
        analysis = rt.analysis_runner().run(sym, tf, bar, features)
        decision = _signal(rt, analysis)
    except Exception as exc:  # the store (or the hook's Redis) failed: the analysis is retried
        rt.lifecycle.report("database", exc)
        state.release(sym, tf, start, rt.options.claim_ttl_s)
        state.incr("analyses_store_errors")
        log.warning(
            "analysis of %s %s not stored: %s: %s",
            sym,
            tf,
            type(exc).__name__,
            exc,
            extra={"component": "celery", "symbol": sym, "timeframe": tf},
        )
        return {
            "status": "store_error",
            "error_code": _code_name(exc),
            "error": f"{type(exc).__name__}: {exc}",
        }
    rt.lifecycle.report("database", None)
    if analysis.status is AnalysisStatus.FAILED:
        state.push_failure(sym, tf, rt.now_ns(), analysis.error_code or ErrorCode.UNKNOWN.name)
        state.incr("analyses_failed")
    else:
        state.incr("analyses_complete")
    state.finish(sym, tf, start, rt.options.claim_ttl_s)
    if decision is SignalDecision.NOTIFIED:
        state.incr("signals_notified")
        rt.request_delivery()
    return {
        "status": analysis.status.value,
        "symbol": sym,
        "timeframe": tf,
        "bar_ts": analysis.bar_ts.isoformat(),
        "composite_score": analysis.composite_score,
        "signal": None if decision is None else decision.value,
        "redelivered": redelivered,
    }


def give_up(rt: Runtime, request: Mapping[str, Any], error_code: str) -> None:
    """After the last store retry: record the analysis as a failure of its pair."""
    sym, tf = str(request["symbol"]), str(request["timeframe"])
    # Settled: the pair's next bar must not wait order_wait_s for this one.
    rt.state.finish(sym, tf, int(request["start_ns"]), rt.options.claim_ttl_s)
    rt.state.push_failure(sym, tf, rt.now_ns(), error_code)
    rt.state.incr("analyses_dropped")
    log.error(
        "analysis of %s %s @%s dropped after %d store retries (%s)",
        sym,
        tf,
        request.get("start_ns"),
        rt.options.store_retries,
        error_code,
        extra={"component": "celery", "symbol": sym, "timeframe": tf, "error_code": error_code},
    )


# ------------------------------------------------------------------------------ delivery


def deliver(rt: Runtime) -> dict[str, Any]:
    """One delivery pass of the outbox (leases + SKIP LOCKED on PostgreSQL: workers never
    send the same row twice); returns how many rows went out."""
    done = rt.notifier.deliver_once()
    if done:
        rt.state.incr("notifications_delivered", done)
    return {"delivered": done}


__all__ = ["BarSnapshot", "Enqueue", "analyse", "deliver", "give_up", "tick"]
