"""The LLM analyst: a chat model's opinion of a symbol, asked off the cycle (docs/llm.md).

One module a concern: ``answer`` (prompts, :class:`LLMAnswer`, parsing), ``client`` (the SDK
client and error kinds), ``gates`` (conviction), ``outcome`` (the finding and notification an
answer becomes), ``metrics`` (counters, Prometheus) and ``analyst`` (:class:`LLMAnalyst`, its
queue and worker). Neither the SDK nor prometheus_client is imported until needed.
"""

from __future__ import annotations

from montalaq.llm.analyst import LLMAnalyst, SubmitOutcome
from montalaq.llm.answer import (
    LABELS,
    MAX_FINDINGS,
    RAW_SHOWN,
    SYSTEM_PROMPT,
    LLMAnswer,
    LLMMalformedError,
    parse_answer,
)
from montalaq.llm.gates import conviction
from montalaq.llm.outcome import AGENT

__all__ = [
    "AGENT",
    "LABELS",
    "MAX_FINDINGS",
    "RAW_SHOWN",
    "SYSTEM_PROMPT",
    "LLMAnalyst",
    "LLMAnswer",
    "LLMMalformedError",
    "SubmitOutcome",
    "conviction",
    "parse_answer",
]
