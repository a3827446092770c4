"""
montalaq native core (private: import from montalaq instead)
"""

from __future__ import annotations

from . import errors, guard, health, logging, market, rules

__all__: list[str] = ["errors", "guard", "health", "logging", "market", "rules"]
