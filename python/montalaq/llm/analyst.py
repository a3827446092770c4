"""The :class:`LLMAnalyst`: gates a submission, queues it, and asks the model on one daemon
worker with retries and a breaker (docs/llm.md, sections When it asks, Robustness).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from montalaq._time import UNSET, TimeLike, Unset, now_or_old_ns
from montalaq.correlation import correlation_scope
from montalaq.errors import ErrorTaxonomy
from montalaq.health import CircuitBreaker
from montalaq.llm.answer import (
    LLMAnswer,
    LLMMalformedError,
    _content_of,
    _Job,
    _job_of,
    parse_answer,
)
from montalaq.llm.client import _ask, _error_kind, _is_outage, _make_client, _resolve_key, _usage
from montalaq.llm.gates import _best_conviction
from montalaq.llm.metrics import _OPEN_STATES, _Counters, _families
from montalaq.llm.outcome import _finding_of, _notify_answer
from montalaq.records import Finding
from montalaq.retry import RetryPolicy, RetryStats
from montalaq.shapes import LLMStats

if TYPE_CHECKING:
    from openai import OpenAI
    from prometheus_client.metrics_core import Metric

    from montalaq.notify import Notifier
    from montalaq.settings import Settings

log = logging.getLogger("montalaq.llm")

SubmitOutcome = Literal[
    "queued", "replaced", "skipped_score", "skipped_interval", "skipped_breaker", "disabled", "closed"
]
_NS = 1_000_000_000


class _BreakerOpenError(Exception):
    """The breaker refused an attempt (never retried: the policy does not know it)."""


class _ClosingError(Exception):
    """close() interrupted a retry's wait."""


def _check_arguments(
    model: object,
    base_url: str | None,
    queue_size: object,
    min_interval_s: float,
    min_score: float,
    alert_min_conf: float,
    timeout_s: float,
) -> None:
    """``ValueError`` naming the first :class:`LLMAnalyst` argument out of its range."""
    for name, value, lo, hi, open_lo in (
        ("min_interval_s", min_interval_s, 0.0, math.inf, True),
        ("min_score", min_score, 0.0, math.inf, False),
        ("alert_min_conf", alert_min_conf, 0.0, 1.0, False),
        ("timeout_s", timeout_s, 0.0, math.inf, True),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if value < lo or value > hi or (open_lo and value == lo):
            want = f"in [{lo}, {hi}]" if math.isfinite(hi) else f"{'>' if open_lo else '>='} {lo}"
            raise ValueError(f"{name}: expected a number {want}, got {value!r}")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size: expected an integer >= 1, got {queue_size!r}")
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model: expected a model name, got {model!r}")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url: expected an http:// or https:// URL, got {base_url!r}")


class LLMAnalyst:
    """Asks an OpenAI-compatible server about symbols whose findings are strong (docs/llm.md).

    ``api_key`` (unset with a ``base_url``: ``"not-needed"``), ``base_url`` (None: the SDK's
    ``OPENAI_BASE_URL``, else OpenAI), ``model``; ``min_interval_s`` between the starts of two
    calls for one symbol, on ``clock`` (int ns, default the wall clock; also the breaker's);
    ``min_score``: the conviction a latest finding must reach; ``alert_min_conf``: answers at
    least this confident are also notified; ``timeout_s`` per request; ``retry_*`` the retry
    policy (``retry_attempts`` tries, ``Retry-After`` honoured up to ``retry_max_delay_s``);
    ``breaker_*`` the ``llm`` breaker; ``queue_size`` symbols waiting at most. ``worker=False``
    runs nothing in the background: call :meth:`run_pending` (tests). Thread-safe.
    """

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        on_finding: Callable[[Finding], Any] | None = None,
        notifier: Notifier | None = None,
        enabled: bool = True,
        min_interval_s: float = 300.0,
        min_score: float = 0.7,
        alert_min_conf: float = 0.8,
        timeout_s: float = 20.0,
        retry_attempts: int = 3,
        retry_base_s: float = 1.0,
        retry_max_delay_s: float = 30.0,
        breaker_failures: int = 5,
        breaker_window_s: float = 120.0,
        breaker_cooldown_s: float = 60.0,
        queue_size: int = 64,
        worker: bool = True,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        _check_arguments(model, base_url, queue_size, min_interval_s, min_score, alert_min_conf, timeout_s)
        self.model = model.strip()
        self.base_url = base_url
        self.enabled = bool(enabled)
        self.min_interval_s = float(min_interval_s)
        self.min_score = float(min_score)
        self.alert_min_conf = float(alert_min_conf)
        self.timeout_s = float(timeout_s)
        self.queue_size = queue_size
        self.on_finding = on_finding
        self.notifier = notifier
        self._clock = clock
        self._stop = threading.Event()
        self._interval_ns = int(self.min_interval_s * _NS)
        self._key = _resolve_key(api_key, base_url) if self.enabled else SecretStr("")
        self.breaker = CircuitBreaker(
            "llm",
            failure_threshold=breaker_failures,
            window_s=breaker_window_s,
            cooldown_s=breaker_cooldown_s,
        )
        taxonomy = ErrorTaxonomy()
        self._retry = RetryPolicy(
            max_attempts=retry_attempts,
            base_s=retry_base_s,
            max_delay_s=retry_max_delay_s,
            taxonomy=taxonomy,
            sleep=self._sleep,
        )
        self._client: OpenAI | None = None
        if self.enabled:
            self._client = _make_client(self._key, self.base_url, self.timeout_s, taxonomy)
        self._counters = _Counters()
        self._pending: OrderedDict[str, _Job] = OrderedDict()
        self._last_start_ns: dict[str, int] = {}
        self._inflight: str | None = None
        self._cond = threading.Condition()
        self._use_worker = bool(worker)
        self._thread: threading.Thread | None = None
        self._episode: set[str] = set()  # error kinds logged since the last good answer

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_finding: Callable[[Finding], Any] | None = None,
        notifier: Notifier | None = None,
        **overrides: Any,
    ) -> LLMAnalyst:
        """An analyst configured by ``LLM_ENABLE``, ``OPENAI_*`` and ``LLM_*``; ``overrides``
        are constructor arguments (``clock``, ``worker``, ``breaker_*``, ...)."""
        values: dict[str, Any] = {
            "model": settings.openai_model,
            "api_key": settings.openai_api_key,
            "base_url": settings.openai_base_url,
            "enabled": settings.llm_enable,
            "min_interval_s": settings.llm_min_interval,
            "min_score": settings.llm_analyst_min_score,
            "alert_min_conf": settings.llm_alert_min_conf,
            "timeout_s": settings.llm_timeout_sec,
        }
        values.update(overrides)
        return cls(on_finding=on_finding, notifier=notifier, **values)

    def __repr__(self) -> str:
        return (
            f"LLMAnalyst(model={self.model!r}, base_url={self.base_url!r}, enabled={self.enabled}, "
            f"min_interval_s={self.min_interval_s}, min_score={self.min_score})"
        )

    # -- submitting ---------------------------------------------------------------------------
    def submit(
        self,
        symbol: str,
        features: Mapping[str, Any],
        posture: str | None,
        findings: Sequence[Finding],
        now: TimeLike | None = None,
        *,
        now_ns: int | Unset = UNSET,
    ) -> SubmitOutcome:
        """Queue a call for ``symbol`` if the gates let it through; returns at once.

        ``features``: the ``/signals_tf`` mapping; ``posture``: the trend score's posture;
        ``findings``: the symbol's recent findings; ``now``: the cycle's time (int ns, aware
        datetime, datetime64; None: the analyst's clock), the time of the finding an answer
        becomes (``now_ns=`` is deprecated). Never raises for what the gates decide."""
        at = now_or_old_ns(now, now_ns)
        if self._stop.is_set():
            return "closed"
        if not self.enabled:
            return "disabled"
        now_ns = int(self._clock()) if at is None else at
        mine = sorted(
            (f for f in findings if isinstance(f, Finding) and f.symbol == symbol),
            key=lambda f: f.ts_utc,
            reverse=True,
        )
        with self._cond:
            self._counters.submitted += 1
            refused = self._refusal(symbol, mine, now_ns)
            if refused is not None:
                return refused
            return self._enqueue(_job_of(symbol, now_ns, features, posture, mine))

    def _refusal(self, symbol: str, findings: Sequence[Finding], now_ns: int) -> SubmitOutcome | None:
        """Which gate refuses the call, counted (call with the condition held); None: none."""
        if _best_conviction(findings, now_ns, self._interval_ns) < self.min_score:
            self._counters.skipped_score += 1
            return "skipped_score"
        now = self._clock()
        last = self._last_start_ns.get(symbol)
        if last is not None and now - last < self._interval_ns:
            self._counters.skipped_interval += 1
            return "skipped_interval"
        if self.breaker.state(now).name in _OPEN_STATES:
            self._counters.skipped_breaker += 1
            return "skipped_breaker"
        return None

    def _enqueue(self, job: _Job) -> SubmitOutcome:
        """Queue ``job`` (call with the condition held), the oldest waiting one dropped when full."""
        if job.symbol in self._pending:  # still waiting: ask about the newer picture instead
            self._pending[job.symbol] = job
            self._counters.superseded += 1
            return "replaced"
        if len(self._pending) >= self.queue_size:
            self._pending.popitem(last=False)
            self._counters.dropped += 1
        self._pending[job.symbol] = job
        if self._use_worker and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="montalaq-llm", daemon=True)
            self._thread.start()
        self._cond.notify_all()
        return "queued"

    # -- running --------------------------------------------------------------------------------
    def _take(self) -> tuple[_Job, int | None] | None:
        """The oldest waiting job, its start recorded (call with the condition held)."""
        while self._pending:
            symbol, job = self._pending.popitem(last=False)
            now = self._clock()
            last = self._last_start_ns.get(symbol)
            if last is not None and now - last < self._interval_ns:
                self._counters.skipped_interval += 1
                continue
            self._last_start_ns[symbol] = now
            self._inflight = symbol
            return job, last
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                taken = self._take()
            if taken is not None:
                self._process_safely(*taken)

    def run_pending(self) -> int:
        """Run every waiting call on this thread (tests and hosts without the worker);
        returns how many ran."""
        n = 0
        while not self._stop.is_set():
            with self._cond:
                taken = self._take()
            if taken is None:
                return n
            self._process_safely(*taken)
            n += 1
        return n

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait (at most ``timeout_s``) until nothing waits or runs; True when idle."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._inflight is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _process_safely(self, job: _Job, previous_start: int | None) -> None:
        try:
            self._process(job, previous_start)
        except Exception as exc:  # a bug of ours: logged, never the end of the worker
            log.error(
                "LLM analyst: call for %s failed unexpectedly: %s",
                job.symbol,
                self._scrub(f"{type(exc).__name__}: {exc}")[:500],
                extra={"component": "llm", "symbol": job.symbol},
            )
        finally:
            with self._cond:
                self._inflight = None
                self._cond.notify_all()

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _ClosingError

    def _process(self, job: _Job, previous_start: int | None) -> None:
        with self._cond:
            self._counters.calls += 1
        with correlation_scope() as cid:
            stats = RetryStats()
            try:
                answer, meta = self._retry.call_with(stats, self._attempt, job)
            except _ClosingError:
                return
            except _BreakerOpenError:
                with self._cond:
                    self._counters.skipped_breaker += 1
                    if stats.attempts == 1:  # nothing was asked: the interval is not used up
                        if previous_start is None:
                            self._last_start_ns.pop(job.symbol, None)
                        else:
                            self._last_start_ns[job.symbol] = previous_start
                return
            except Exception as exc:
                if not self._stop.is_set():  # close() cut the call short: nothing to report
                    self._failed(job, exc)
                return
            finally:
                self._retry.last_stats = None  # it holds the last exception (its text may echo the key)
            if self._stop.is_set():
                return  # the host is shutting down: its store and notifier may be closed already
            self._answered(job, answer, meta, cid)

    def _attempt(self, job: _Job) -> tuple[LLMAnswer, dict[str, Any]]:
        """One request; every outcome is counted and reported to the breaker."""
        if not self.breaker.allow(self._clock()):
            raise _BreakerOpenError
        assert self._client is not None
        with self._cond:
            self._counters.requests += 1
        t0 = time.perf_counter()
        try:
            response = _ask(self._client, self.model, job)
        except Exception as exc:
            kind = _error_kind(exc)
            self._count_error(kind)
            if _is_outage(kind):
                self.breaker.record_failure(self._clock())
            else:
                self.breaker.record_success(self._clock())
            raise
        latency_ms = (time.perf_counter() - t0) * 1000.0
        self.breaker.record_success(self._clock())
        prompt_tokens, completion_tokens = _usage(response)
        with self._cond:
            self._counters.add_answer(prompt_tokens, completion_tokens, latency_ms)
        try:
            answer = parse_answer(_content_of(response))
        except LLMMalformedError:
            self._count_error("malformed")
            raise
        meta = {
            "latency_ms": round(latency_ms, 3),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        return answer, meta

    def _count_error(self, kind: str) -> None:
        with self._cond:
            self._counters.errors[kind] = self._counters.errors.get(kind, 0) + 1

    def _failed(self, job: _Job, exc: Exception) -> None:
        kind = _error_kind(exc)
        with self._cond:
            first = kind not in self._episode
            self._episode.add(kind)
        if first:  # once per kind and episode: a dead server must not flood the log
            log.warning(
                "LLM analyst: call for %s failed (%s): %s; further %s failures are counted, not logged, "
                "until an answer is valid again",
                job.symbol,
                kind,
                self._scrub(str(exc))[:400],
                kind,
                extra={"component": "llm", "symbol": job.symbol, "kind": kind},
            )

    def _answered(self, job: _Job, answer: LLMAnswer, meta: dict[str, Any], cid: str) -> None:
        with self._cond:
            self._counters.ok += 1
            ended = sorted(self._episode)
            self._episode.clear()
        if ended:
            log.info(
                "LLM analyst: answers are valid again (after %s)",
                ", ".join(ended),
                extra={"component": "llm", "symbol": job.symbol},
            )
        finding = _finding_of(job, answer, self.model, meta, cid)
        if self.on_finding is not None:
            try:
                self.on_finding(finding)
                with self._cond:
                    self._counters.findings += 1
            except Exception:
                with self._cond:
                    self._counters.callback_errors += 1
                log.exception(
                    "LLM analyst: the finding callback failed for %s",
                    job.symbol,
                    extra={"component": "llm", "symbol": job.symbol},
                )
        if self.notifier is not None and answer.confidence >= self.alert_min_conf:
            self._alert(job, answer, cid)

    def _alert(self, job: _Job, answer: LLMAnswer, cid: str) -> None:
        assert self.notifier is not None
        try:
            _notify_answer(self.notifier, job, answer, self.model, cid)
            with self._cond:
                self._counters.alerts += 1
        except Exception as exc:
            with self._cond:
                self._counters.notify_errors += 1
            log.warning(
                "LLM analyst: could not notify the answer for %s: %s",
                job.symbol,
                f"{type(exc).__name__}: {exc}"[:300],
                extra={"component": "llm", "symbol": job.symbol},
            )

    def _scrub(self, text: str) -> str:
        key = self._key.get_secret_value()
        return text.replace(key, "***") if len(key) >= 4 else text

    # -- stopping and reading -------------------------------------------------------------------
    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker (a call in flight ends within its timeout; waiting calls are
        dropped) and close the HTTP client. Idempotent."""
        self._stop.set()
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> LLMAnalyst:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> LLMStats:
        """The counters (this process; docs/llm.md "Metrics"), the queue and the breaker."""
        with self._cond:
            counters = self._counters.snapshot(queued=len(self._pending))
        return {
            "enabled": self.enabled,
            "model": self.model,
            **counters,
            "breaker": self.breaker.state(self._clock()).name,
        }

    def prometheus_families(self) -> list[Metric]:
        """``montalaq_llm_*`` families for a scrape (none while disabled): requests, errors
        by kind, tokens by type, latency (a summary: sum and count), skipped calls by
        reason, valid answers, and whether the breaker is open."""
        if not self.enabled:
            return []
        return _families(self.stats())
