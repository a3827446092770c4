"""Whether an answer is worth asking for: the conviction of the findings a call is submitted
with (docs/llm.md, section When it asks)."""

from __future__ import annotations

from collections.abc import Sequence

from montalaq._time import to_ns
from montalaq.llm.outcome import AGENT
from montalaq.records import Finding


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


def _best_conviction(findings: Sequence[Finding], now_ns: int, max_age_ns: int) -> float:
    """The highest conviction among each agent's newest finding (``findings`` newest first)
    no older than ``max_age_ns`` (an older one had its chance already); 0 when there is none."""
    best = 0.0
    seen: set[str] = set()
    for f in findings:
        if f.agent in seen:
            continue
        seen.add(f.agent)
        if now_ns - to_ns(f.ts_utc, "ts_utc") > max_age_ns:
            continue
        c = conviction(f)
        if c is not None and c > best:
            best = c
    return best
