"""What a valid answer becomes: a ``llm_analyst`` finding and, when confident enough, an
``analysis`` notification (docs/llm.md, section What it gives)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from montalaq._time import iso_z
from montalaq.llm.answer import LLMAnswer, _Job
from montalaq.records import Finding, as_utc

if TYPE_CHECKING:
    from montalaq.notify import Notifier

AGENT = "llm_analyst"
"""The ``agent`` of the analyst's findings."""


def _finding_of(job: _Job, answer: LLMAnswer, model: str, meta: dict[str, Any], cid: str) -> Finding:
    """The finding ``answer`` becomes, at the submission's time; ``meta``: latency and tokens."""
    return Finding(
        ts_utc=as_utc(job.ts_ns, "now_ns"),
        agent=AGENT,
        symbol=job.symbol,
        score=answer.score,
        label=answer.label,
        details={
            "confidence": answer.confidence,
            "rationale": answer.rationale,
            "model": model,
            **meta,
        },
        correlation_id=cid,
    )


def _notify_answer(notifier: Notifier, job: _Job, answer: LLMAnswer, model: str, cid: str) -> None:
    """Queue the ``analysis`` notification of ``answer`` (raises what ``notify`` raises)."""
    from montalaq.notify import Severity

    # kind "analysis" (montalaq.notify.ANALYSIS_KINDS): SLACK_ANALYSIS_ONLY lets it through.
    notifier.notify(
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
            "model": model,
            "ts": iso_z(as_utc(job.ts_ns, "now_ns")),
        },
        correlation_id=cid,
        idempotency_key=f"llm-{job.symbol}-{job.ts_ns}"[:128],
    )
