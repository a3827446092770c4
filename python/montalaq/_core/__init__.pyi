"""
montalaq native core (private: import from montalaq instead)
"""
from __future__ import annotations
from . import market
from . import errors
from . import guard
from . import health
from . import rules
from . import logging
__all__: list[str] = ['errors', 'guard', 'health', 'logging', 'market', 'rules']
