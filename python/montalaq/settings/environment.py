"""How ``Settings.from_env`` reads variables: the ``MONTALAQ_`` prefix that wins over the
plain name, a given mapping that replaces os.environ, and the once-per-name warning about
a mistyped setting (docs/semantics.md, "Settings")."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

PREFIX = "MONTALAQ_"

# Set while from_env(mapping) builds its Settings: the mapping replaces os.environ.
_MAPPING_ONLY: ContextVar[bool] = ContextVar("montalaq_settings_mapping_only", default=False)
_WARNED: set[str] = set()
# Names of the environment that often sit next to montalaq's and are no typo of them.
_NOT_TYPOS = frozenset({"DATABASE_URI", "REDIS_HOST", "REDIS_PORT", "API_KEY", "SYMBOLS_FILE"})


def given_values(env: Mapping[str, str] | None, fields: Iterable[str]) -> dict[str, Any]:
    """The values ``env`` (default: the process environment) gives the settings ``fields``,
    by field name: names match without regard to case and ``MONTALAQ_<NAME>`` wins over
    ``<NAME>``; any other name that looks like a mistyped setting is warned about."""
    if env is None:
        env = dict(os.environ)
    known = {name.upper(): name for name in fields}
    plain: dict[str, Any] = {}
    prefixed: dict[str, Any] = {}
    for key, value in env.items():
        k = key.upper()
        if k in known:
            plain[known[k]] = value
        elif k.startswith(PREFIX) and k[len(PREFIX) :] in known:
            prefixed[known[k[len(PREFIX) :]]] = value
        else:
            _warn_if_typo(k, known)
    return {**plain, **prefixed}


@contextmanager
def mapping_only() -> Iterator[None]:
    """While inside, Settings read only their init values, never os.environ or a .env file."""
    token = _MAPPING_ONLY.set(True)
    try:
        yield
    finally:
        _MAPPING_ONLY.reset(token)


def reading_mapping_only() -> bool:
    """Whether a ``mapping_only()`` block is running in this context."""
    return _MAPPING_ONLY.get()


def _warn_if_typo(name: str, known: Mapping[str, str]) -> None:
    """Warn once about ``name`` when it looks like a mistyped setting: a ``MONTALAQ_`` name
    that is none, or a name one or two letters away from one (``SYMBOLS`` for ``SYMBOL``)."""
    if name in _WARNED or name in _NOT_TYPOS:
        return
    ours = name.startswith(PREFIX)
    bare = name[len(PREFIX) :] if ours else name
    # A MONTALAQ_ name is meant for montalaq: suggest more freely than for a bare name,
    # which may well be the host application's.
    close = difflib.get_close_matches(bare, list(known), n=1, cutoff=0.6 if ours else 0.88)
    if not close and not ours:
        return
    _WARNED.add(name)
    hint = f"; did you mean {close[0]}?" if close else ""
    logging.getLogger("montalaq.settings").warning(
        "%s is not a montalaq setting and is ignored%s", name, hint, extra={"component": "settings"}
    )


__all__ = ["PREFIX", "given_values", "mapping_only", "reading_mapping_only"]
