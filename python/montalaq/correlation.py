"""Correlation ids: one id per evaluation, carried through analysis, decision, order and
notification, and into every log line of that evaluation (docs/semantics.md, "Guards",
Correlation ids)::

    with correlation_scope() as cid:       # a fresh 8-hex id, or $E2E_CORRELATION_ID
        log.info("analysing")              # record.correlation_id == cid (with the filter)
        await asyncio.gather(a(), b())     # tasks inherit cid; a scope inside one stays there

:class:`CorrelationFilter` stamps ``record.correlation_id``; :func:`install` adds it to a
logger's handlers (never the root logger unless you pass it).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

ENV_VAR = "E2E_CORRELATION_ID"
NO_ID = "-"

# Ids end up in log lines, stored rows and alert payloads: printable, no spaces or newlines.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: ContextVar[str | None] = ContextVar("montalaq_correlation_id", default=None)


def _checked(cid: object, name: str) -> str:
    if not isinstance(cid, str):
        raise TypeError(f"{name}: expected a str, got {type(cid).__name__}")
    if not _VALID.fullmatch(cid):
        raise ValueError(f"{name}: expected 1-64 characters from [A-Za-z0-9._:-], got {cid!r}")
    return cid


def new_correlation_id() -> str:
    """A fresh id: 8 lowercase hex characters, or ``$E2E_CORRELATION_ID`` when it is set
    (non-empty), so an end-to-end test can follow one id through the system."""
    forced = os.environ.get(ENV_VAR)
    if forced:
        return _checked(forced, ENV_VAR)
    return secrets.token_hex(4)


def get() -> str | None:
    """The current correlation id, or None outside any scope."""
    return _current.get()


def set(cid: str | None) -> Token[str | None]:  # shadows the builtin on purpose: the contextvar verb
    """Make ``cid`` current (None clears it); returns a token for :func:`reset`."""
    return _current.set(None if cid is None else _checked(cid, "cid"))


def reset(token: Token[str | None]) -> None:
    """Restore the id that was current before the :func:`set` that returned ``token``."""
    _current.reset(token)


@contextmanager
def correlation_scope(cid: str | None = None) -> Iterator[str]:
    """Run a block with ``cid`` (default: :func:`new_correlation_id`) as the current id and
    restore the previous one on exit, also on an exception; yields the id."""
    value = new_correlation_id() if cid is None else _checked(cid, "cid")
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Stamps ``record.correlation_id`` with the current id (``"-"`` outside a scope).

    A record that already carries one (``extra={"correlation_id": ...}``) keeps it. Never
    drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = _current.get() or NO_ID
        return True


def install(logger: logging.Logger | str | None = None) -> list[logging.Handler]:
    """Add a :class:`CorrelationFilter` to every handler of ``logger`` (a Logger or its
    name; default the ``"montalaq"`` logger) that lacks one; returns those handlers.

    Filters sit on handlers, not on the logger, because a logger's own filters do not see
    records propagated from its children. A logger without handlers gets nothing: add the
    handlers first. The root logger is changed only when passed explicitly.
    """
    if logger is None:
        target = logging.getLogger("montalaq")
    elif isinstance(logger, str):
        target = logging.getLogger(logger)
    elif isinstance(logger, logging.Logger):
        target = logger
    else:
        raise TypeError(f"logger: expected a Logger, a logger name or None, got {type(logger).__name__}")
    changed = []
    for handler in target.handlers:
        if not any(isinstance(f, CorrelationFilter) for f in handler.filters):
            handler.addFilter(CorrelationFilter())
            changed.append(handler)
    return changed


__all__ = [
    "ENV_VAR",
    "NO_ID",
    "CorrelationFilter",
    "correlation_scope",
    "get",
    "install",
    "new_correlation_id",
    "reset",
    "set",
]
