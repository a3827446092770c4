"""Text within a service's limits: truncation with "…", fitting after escaping, digest listings."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from montalaq.notify.message import DigestItem, iso_z


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, how Telegram counts its limits."""
    return len(text.encode("utf-16-le")) // 2


def _truncate(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """``text`` cut to at most ``limit`` (by ``measure``), ending in "…" when cut."""
    if measure(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit]
    while cut and measure(cut) > limit - 1:
        cut = cut[:-1]
    return cut + "…"


def _fit(render: Callable[[int], str], limit: int, measure: Callable[[str], int] = len) -> str:
    """The longest ``render(budget)`` that measures at most ``limit``.

    ``render`` takes a budget in characters and returns at most that many, before any
    escaping it applies; escaping (Slack's ``&amp;``) and UTF-16 counting (Telegram) can make
    the result longer, so the budget shrinks by the overflow until it fits.
    """
    budget = limit
    text = render(budget)
    for _ in range(8):
        size = measure(text)
        if size <= limit:
            return text
        budget = max(1, budget - (size - limit))
        text = render(budget)
    return _truncate(text, limit, measure)


def _item_line(item: DigestItem) -> str:
    return f"- {iso_z(item.created_at)} [{item.severity}] {item.title} ({item.idempotency_key})"


def _digest_text(items: Sequence[DigestItem], max_chars: int, max_items: int) -> str:
    """ "N events:" then one line per item while they fit, then "... and K more"."""
    lines = [f"{len(items)} events:"]
    reserve = len(f"\n... and {len(items)} more")
    used = len(lines[0])
    shown = 0
    for item in items:
        line = _item_line(item)
        if shown >= max_items or used + 1 + len(line) + reserve > max_chars:
            break
        lines.append(line)
        used += 1 + len(line)
        shown += 1
    if shown < len(items):
        lines.append(f"... and {len(items) - shown} more")
    return _truncate("\n".join(lines), max_chars)
