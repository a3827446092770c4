"""
Error taxonomy
"""

from __future__ import annotations

import typing

__all__: list[str] = ["ErrorCode"]

class ErrorCode:
    """
    Error taxonomy shared by the core and Python (docs/semantics.md, Guards).

    Members:

      INGESTION_TIMEOUT

      PROVIDER_DISCONNECTED

      DUPLICATE_TICK

      FRESHNESS_THRESHOLD_EXCEEDED

      ANALYSIS_ERR

      CIRCUIT_OPEN

      RATE_LIMITED

      UNKNOWN
    """

    ANALYSIS_ERR: typing.ClassVar[ErrorCode]
    CIRCUIT_OPEN: typing.ClassVar[ErrorCode]
    DUPLICATE_TICK: typing.ClassVar[ErrorCode]
    FRESHNESS_THRESHOLD_EXCEEDED: typing.ClassVar[ErrorCode]
    INGESTION_TIMEOUT: typing.ClassVar[ErrorCode]
    PROVIDER_DISCONNECTED: typing.ClassVar[ErrorCode]
    RATE_LIMITED: typing.ClassVar[ErrorCode]
    UNKNOWN: typing.ClassVar[ErrorCode]
    __members__: typing.ClassVar[dict[str, ErrorCode]]
    @typing.overload
    def __eq__(self, other: ErrorCode) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: ErrorCode) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
