"""The analyst's counters and their Prometheus families (docs/llm.md, section Metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from montalaq.shapes import LLMCounters, LLMStats

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

_OPEN_STATES = ("OPEN", "FORCED_OPEN")


@dataclass
class _Counters:
    """What one analyst did (this process); guarded by the analyst's condition."""

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

    def add_answer(self, prompt_tokens: int, completion_tokens: int, latency_ms: float) -> None:
        """Count one answered request: its tokens and latency."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.latency_ms_sum += latency_ms
        self.latency_ms_count += 1
        self.latency_ms_last = latency_ms

    def snapshot(self, queued: int) -> LLMCounters:
        """The counters as :meth:`~montalaq.llm.LLMAnalyst.stats` shows them, with ``queued``."""
        return {
            "submitted": self.submitted,
            "queued": queued,
            "calls": self.calls,
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "skipped_interval": self.skipped_interval,
            "skipped_score": self.skipped_score,
            "skipped_breaker": self.skipped_breaker,
            "dropped": self.dropped,
            "superseded": self.superseded,
            "findings": self.findings,
            "alerts": self.alerts,
            "callback_errors": self.callback_errors,
            "notify_errors": self.notify_errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms_sum": self.latency_ms_sum,
            "latency_ms_count": self.latency_ms_count,
            "latency_ms_last": self.latency_ms_last,
        }


def _families(s: LLMStats) -> list[Metric]:
    """``montalaq_llm_*`` families from :meth:`~montalaq.llm.LLMAnalyst.stats` ``s``."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

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
    skipped = CounterMetricFamily("montalaq_llm_skipped", "LLM calls not made, by reason", labels=["reason"])
    skipped.add_metric(["interval"], s["skipped_interval"])
    skipped.add_metric(["score"], s["skipped_score"])
    skipped.add_metric(["breaker"], s["skipped_breaker"])
    skipped.add_metric(["dropped"], s["dropped"])
    return [
        CounterMetricFamily("montalaq_llm_requests", "HTTP requests sent to the LLM server", s["requests"]),
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
