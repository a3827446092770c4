"""
Native log buffer drained by montalaq.configure_logging
"""

from __future__ import annotations

import typing

__all__: list[str] = ["BUFFER_CAPACITY", "drain", "dropped", "set_level"]

def drain(max_records: typing.SupportsInt | typing.SupportsIndex = 100000) -> list[tuple[int, int, str, str]]:
    """
    Remove and return buffered native records as (ts_ns, spdlog_level, logger, message) tuples.
    """

def dropped() -> int:
    """
    Records dropped because the native buffer was full.
    """

def set_level(level: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the native log level (spdlog: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical, 6 off).
    """

BUFFER_CAPACITY: int = 10000
