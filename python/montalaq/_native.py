"""Loads the compiled core with an actionable message when it is missing."""

from __future__ import annotations

try:
    from montalaq import _core
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "montalaq's native core (montalaq._core) is not built or does not match this Python. "
        "Install the package with `pip install .` from the source tree (or `make test`, which "
        f"builds it) rather than importing python/montalaq directly. Original error: {exc}"
    ) from exc

market = _core.market
health = _core.health
errors = _core.errors
guard = _core.guard
native_logging = _core.logging

rules = _core.rules

__all__ = ["errors", "guard", "health", "market", "native_logging", "rules"]
