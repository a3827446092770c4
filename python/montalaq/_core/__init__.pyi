"""
montalaq native core (private: import from montalaq instead)
"""
from __future__ import annotations
from . import market
from . import logging
__all__: list[str] = ['logging', 'market']
