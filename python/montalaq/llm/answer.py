"""What the analyst asks a chat model and what it must answer: the prompts, :class:`LLMAnswer`
and its parsing (docs/llm.md, sections What it asks, Robustness).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from montalaq._time import iso_z
from montalaq.records import Finding, as_utc

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


class LLMAnswer(BaseModel):
    """The answer the model must give (strict: no coercion from strings; extra keys ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)

    label: Literal["BULLISH", "BEARISH", "NEUTRAL"]
    score: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(max_length=500)


class LLMMalformedError(ValueError):
    """The server answered, but not with a usable :class:`LLMAnswer` (kind ``malformed``)."""


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


def _job_of(
    symbol: str, ts_ns: int, features: Mapping[str, Any], posture: str | None, findings: Sequence[Finding]
) -> _Job:
    """What a call asks about: the features made JSON-safe (non-finite: null) and the newest
    ``MAX_FINDINGS`` of ``findings`` (given newest first)."""
    return _Job(
        symbol=symbol,
        ts_ns=ts_ns,
        features={str(k): _finite_or_none(v) for k, v in sorted(features.items())},
        posture=posture,
        findings=[
            {"agent": f.agent, "score": f.score, "label": f.label, "ts": iso_z(f.ts_utc)}
            for f in findings[:MAX_FINDINGS]
        ],
    )


def _user_prompt(job: _Job) -> str:
    """The user message of ``job``: compact JSON, no NaN (the features are made finite first)."""
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
