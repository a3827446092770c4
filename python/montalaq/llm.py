"""The LLM analyst: a chat model's opinion of a symbol, asked off the cycle (docs/llm.md).

``LLMAnalyst.submit(symbol, features, posture, findings, now_ns)`` returns at once; one
daemon worker asks any OpenAI-compatible chat-completions server (the ``openai`` SDK, extra
``montalaq[llm]``) for ``{label, score, confidence, rationale}`` as JSON, validates it with
:class:`LLMAnswer`, and hands a valid answer to ``on_finding`` as a ``llm_analyst``
:class:`~montalaq.records.Finding` (and, when confident enough, to the notifier as a
``signal``). Gates, retries, the breaker, the counters and the key's handling are in
docs/llm.md. Neither the SDK nor prometheus_client is imported until they are needed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from montalaq._optional import needs
from montalaq._time import iso_z, to_ns
from montalaq.correlation import correlation_scope
from montalaq.errors import ErrorKind, ErrorTaxonomy
from montalaq.health import CircuitBreaker
from montalaq.records import Finding, as_utc
from montalaq.retry import RetryPolicy, RetryStats

if TYPE_CHECKING:
    from openai import OpenAI
    from prometheus_client.metrics_core import Metric

    from montalaq.notify import Notifier
    from montalaq.settings import Settings

log = logging.getLogger("montalaq.llm")

AGENT = "llm_analyst"
"""The ``agent`` of the analyst's findings."""
LABELS = ("BULLISH", "BEARISH", "NEUTRAL")
MAX_FINDINGS = 10
"""How many of the symbol's recent findings the prompt carries (newest first)."""
RAW_SHOWN = 200
"""At most this many characters of a malformed answer reach a log line."""

SYSTEM_PROMPT = (
    "You are a careful market analyst. You receive one instrument's multi-timeframe features "
    "(momentum and price versus VWAP in basis points, relative volume as a ratio to the recent "
    "mean, ATR in price units; null means not yet defined), its trend-score posture (FLAT, LONG "
    "or SHORT) and its most recent agent findings. Judge the near-term direction. Answer with one "
    "JSON object and nothing else, exactly these keys: "
    '{"label": "BULLISH" | "BEARISH" | "NEUTRAL", '
    '"score": number in [-1, 1] (-1 strongly bearish, 1 strongly bullish), '
    '"confidence": number in [0, 1], '
    '"rationale": string of at most 500 characters}'
)

SubmitOutcome = Literal[
    "queued", "replaced", "skipped_score", "skipped_interval", "skipped_breaker", "disabled", "closed"
]
_TRANSIENT_KINDS = ("timeout", "connection", "http_429")
_OPEN_STATES = ("OPEN", "FORCED_OPEN")
_NS = 1_000_000_000


class LLMAnswer(BaseModel):
    """The answer the model must give (strict: no coercion from strings; extra keys ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)

    label: Literal["BULLISH", "BEARISH", "NEUTRAL"]
    score: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(max_length=500)


class LLMMalformedError(ValueError):
    """The server answered, but not with a usable :class:`LLMAnswer` (kind ``malformed``)."""


class _BreakerOpenError(Exception):
    """The breaker refused an attempt (never retried: the policy does not know it)."""


class _ClosingError(Exception):
    """close() interrupted a retry's wait."""


def conviction(finding: Finding) -> float | None:
    """How strongly one finding speaks for a look, for the ``LLM_ANALYST_MIN_SCORE`` gate:
    ``max(p_up, 1 - p_up)`` for ``trend_score`` (0.5..1, as the rule analyzer's confidence),
    None for the analyst's own findings (it never triggers itself), ``|score|`` otherwise
    (``rvol_spike``: the rvol ratio, so a spike always qualifies)."""
    if finding.agent == AGENT:
        return None
    if finding.agent == "trend_score":
        return max(finding.score, 1.0 - finding.score)
    return abs(finding.score)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        v = float(value)
        return value if math.isfinite(v) else None
    return str(value)


@dataclass(frozen=True)
class _Job:
    symbol: str
    ts_ns: int
    features: dict[str, Any]
    posture: str | None
    findings: list[dict[str, Any]]


@dataclass
class _Counters:
    submitted: int = 0
    calls: int = 0
    requests: int = 0
    ok: int = 0
    skipped_interval: int = 0
    skipped_score: int = 0
    skipped_breaker: int = 0
    dropped: int = 0
    superseded: int = 0
    findings: int = 0
    alerts: int = 0
    callback_errors: int = 0
    notify_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_count: int = 0
    latency_ms_last: float | None = None
    errors: dict[str, int] = field(default_factory=dict)


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
        self._key = self._resolve_key(api_key, base_url) if self.enabled else SecretStr("")
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
            self._client = self._make_client(taxonomy)
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

    @staticmethod
    def _resolve_key(api_key: str | SecretStr | None, base_url: str | None) -> SecretStr:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if key is not None and key.strip():
            return SecretStr(key.strip())
        if base_url or os.environ.get("OPENAI_BASE_URL"):
            return SecretStr("not-needed")  # local servers (vLLM, Ollama, llama.cpp) ignore it
        env_key = os.environ.get("OPENAI_API_KEY", "").strip()
        if env_key:
            return SecretStr(env_key)
        raise ValueError("api_key: required (OPENAI_API_KEY) unless a base URL (OPENAI_BASE_URL) is set")

    def _make_client(self, taxonomy: ErrorTaxonomy) -> OpenAI:
        with needs("the LLM analyst"):
            import openai
        # The SDK's exceptions are not the builtin TimeoutError/ConnectionError: name them
        # here (a private taxonomy, not the process-wide one) so the policy retries them.
        for code, exc_type in (
            ("LLM_TIMEOUT", openai.APITimeoutError),
            ("LLM_CONNECTION", openai.APIConnectionError),
        ):
            taxonomy.register_code(code, ErrorKind.TRANSIENT)
            taxonomy.register_exception(exc_type, code)
        # max_retries=0: montalaq's RetryPolicy retries, so the breaker sees every attempt.
        return openai.OpenAI(
            api_key=self._key.get_secret_value(),
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )

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
        now_ns: int,
    ) -> SubmitOutcome:
        """Queue a call for ``symbol`` if the gates let it through; returns at once.

        ``features``: the ``/signals_tf`` mapping; ``posture``: the trend score's posture;
        ``findings``: the symbol's recent findings; ``now_ns``: the cycle's time (int ns), the
        time of the finding an answer becomes. Never raises for what the gates decide."""
        if self._stop.is_set():
            return "closed"
        if not self.enabled:
            return "disabled"
        now_ns = int(now_ns)
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
            job = _Job(
                symbol=symbol,
                ts_ns=now_ns,
                features={str(k): _finite_or_none(v) for k, v in sorted(features.items())},
                posture=posture,
                findings=[
                    {"agent": f.agent, "score": f.score, "label": f.label, "ts": iso_z(f.ts_utc)}
                    for f in mine[:MAX_FINDINGS]
                ],
            )
            return self._enqueue(job)

    def _refusal(self, symbol: str, findings: Sequence[Finding], now_ns: int) -> SubmitOutcome | None:
        """Which gate refuses the call, counted (call with the condition held); None: none."""
        if self._best(findings, now_ns) < self.min_score:
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

    def _best(self, findings: Sequence[Finding], now_ns: int) -> float:
        """The highest conviction among each agent's newest finding no older than the minimum
        interval (an older one had its chance already); 0 when there is none."""
        best = 0.0
        seen: set[str] = set()
        for f in findings:  # newest first
            if f.agent in seen:
                continue
            seen.add(f.agent)
            if now_ns - to_ns(f.ts_utc, "ts_utc") > self._interval_ns:
                continue
            c = conviction(f)
            if c is not None and c > best:
                best = c
        return best

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
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": self._prompt(job)},
                ],
                response_format={"type": "json_object"},
            )
        except Exception as exc:
            kind = _error_kind(exc)
            self._count_error(kind)
            # A server that answered (401, 404, 400) is up, only misconfigured: like the
            # notifier's permanent failures, it counts as a success for the breaker.
            if kind in _TRANSIENT_KINDS or kind.startswith("http_5"):
                self.breaker.record_failure(self._clock())
            else:
                self.breaker.record_success(self._clock())
            raise
        latency_ms = (time.perf_counter() - t0) * 1000.0
        self.breaker.record_success(self._clock())
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        with self._cond:
            c = self._counters
            c.prompt_tokens += prompt_tokens
            c.completion_tokens += completion_tokens
            c.latency_ms_sum += latency_ms
            c.latency_ms_count += 1
            c.latency_ms_last = latency_ms
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

    def _prompt(self, job: _Job) -> str:
        return json.dumps(
            {
                "symbol": job.symbol,
                "as_of": iso_z(as_utc(job.ts_ns, "now_ns")),
                "posture": job.posture,
                "features": job.features,
                "recent_findings": job.findings,
            },
            allow_nan=False,
            separators=(",", ":"),
        )

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
        finding = Finding(
            ts_utc=as_utc(job.ts_ns, "now_ns"),
            agent=AGENT,
            symbol=job.symbol,
            score=answer.score,
            label=answer.label,
            details={
                "confidence": answer.confidence,
                "rationale": answer.rationale,
                "model": self.model,
                **meta,
            },
            correlation_id=cid,
        )
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
        from montalaq.notify import Severity

        try:
            # kind "analysis" (montalaq.notify.ANALYSIS_KINDS): SLACK_ANALYSIS_ONLY lets it through.
            self.notifier.notify(  # type: ignore[union-attr]
                "analysis",
                f"LLM {answer.label} {job.symbol} (confidence {answer.confidence:.2f})",
                answer.rationale,
                severity=Severity.INFO if answer.label == "NEUTRAL" else Severity.WARNING,
                fields={
                    "symbol": job.symbol,
                    "source": AGENT,
                    "label": answer.label,
                    "score": answer.score,
                    "confidence": answer.confidence,
                    "model": self.model,
                    "ts": iso_z(as_utc(job.ts_ns, "now_ns")),
                },
                correlation_id=cid,
                idempotency_key=f"llm-{job.symbol}-{job.ts_ns}"[:128],
            )
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

    def stats(self) -> dict[str, Any]:
        """The counters (this process; docs/llm.md "Metrics"), the queue and the breaker."""
        with self._cond:
            c = self._counters
            out: dict[str, Any] = {
                "enabled": self.enabled,
                "model": self.model,
                "submitted": c.submitted,
                "queued": len(self._pending),
                "calls": c.calls,
                "requests": c.requests,
                "ok": c.ok,
                "errors": dict(c.errors),
                "skipped_interval": c.skipped_interval,
                "skipped_score": c.skipped_score,
                "skipped_breaker": c.skipped_breaker,
                "dropped": c.dropped,
                "superseded": c.superseded,
                "findings": c.findings,
                "alerts": c.alerts,
                "callback_errors": c.callback_errors,
                "notify_errors": c.notify_errors,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "latency_ms_sum": c.latency_ms_sum,
                "latency_ms_count": c.latency_ms_count,
                "latency_ms_last": c.latency_ms_last,
            }
        out["breaker"] = self.breaker.state(self._clock()).name
        return out

    def prometheus_families(self) -> list[Metric]:
        """``montalaq_llm_*`` families for a scrape (none while disabled): requests, errors
        by kind, tokens by type, latency (a summary: sum and count), skipped calls by
        reason, valid answers, and whether the breaker is open."""
        if not self.enabled:
            return []
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

        s = self.stats()
        errors = CounterMetricFamily(
            "montalaq_llm_errors",
            "failed LLM requests by kind (timeout, http_<status>, ...)",
            labels=["kind"],
        )
        for kind, n in sorted(s["errors"].items()):
            errors.add_metric([kind], n)
        tokens = CounterMetricFamily("montalaq_llm_tokens", "tokens the LLM server reported", labels=["type"])
        tokens.add_metric(["prompt"], s["prompt_tokens"])
        tokens.add_metric(["completion"], s["completion_tokens"])
        skipped = CounterMetricFamily(
            "montalaq_llm_skipped", "LLM calls not made, by reason", labels=["reason"]
        )
        for reason in ("interval", "score", "breaker"):
            skipped.add_metric([reason], s[f"skipped_{reason}"])
        skipped.add_metric(["dropped"], s["dropped"])
        return [
            CounterMetricFamily(
                "montalaq_llm_requests", "HTTP requests sent to the LLM server", s["requests"]
            ),
            CounterMetricFamily("montalaq_llm_answers", "valid LLM answers", s["ok"]),
            errors,
            tokens,
            SummaryMetricFamily(
                "montalaq_llm_latency_seconds",
                "time to an LLM answer",
                count_value=s["latency_ms_count"],
                sum_value=s["latency_ms_sum"] / 1000.0,
            ),
            skipped,
            GaugeMetricFamily(
                "montalaq_llm_breaker_open",
                "1 while the LLM breaker is open",
                1 if s["breaker"] in _OPEN_STATES else 0,
            ),
        ]


def _content_of(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise LLMMalformedError("the answer has no message content") from None
    if not isinstance(content, str):
        raise LLMMalformedError("the answer has no message content")
    return content


def parse_answer(content: str) -> LLMAnswer:
    """The model's message as an :class:`LLMAnswer`; :class:`LLMMalformedError` saying why
    (with at most ``RAW_SHOWN`` characters of the text) when it is not one."""
    shown = content[:RAW_SHOWN] + ("..." if len(content) > RAW_SHOWN else "")
    try:
        data = json.loads(content)
    except ValueError:
        raise LLMMalformedError(f"the answer is not JSON: {shown!r}") from None
    if not isinstance(data, dict):
        raise LLMMalformedError(f"the answer is not a JSON object: {shown!r}")
    try:
        return LLMAnswer.model_validate(data)
    except ValidationError as exc:
        # Our own summary: pydantic's would repeat the whole input.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'answer'}: {e.get('msg')}"
            for e in exc.errors(include_url=False)
        )
        raise LLMMalformedError(f"the answer does not fit the schema ({problems}): {shown!r}") from None


def _error_kind(exc: BaseException) -> str:
    """``malformed``, ``timeout``, ``connection``, ``http_<status>`` or ``other``."""
    if isinstance(exc, LLMMalformedError):
        return "malformed"
    try:
        import openai
    except ImportError:  # pragma: no cover - the client could not have been built
        return "other"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}"
    return "other"


__all__ = [
    "AGENT",
    "LABELS",
    "SYSTEM_PROMPT",
    "LLMAnalyst",
    "LLMAnswer",
    "LLMMalformedError",
    "conviction",
    "parse_answer",
]
