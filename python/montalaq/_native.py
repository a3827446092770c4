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


def __getattr__(name: str) -> object:
    # Submodules added after the first release resolve lazily, so a stale build fails only
    # where the new feature is used, with the rebuild hint.
    if name == "rules":
        try:
            return _core.rules
        except AttributeError:
            raise ImportError(
                "montalaq._core has no 'rules' submodule: the installed native core is older than "
                "this package; rebuild it with `pip install .` (or `make build`)"
            ) from None
    raise AttributeError(name)


__all__ = ["errors", "guard", "health", "market", "native_logging"]
