"""The error taxonomy (SPEC §5.1): one ``ErrorCode`` enum shared with the native core."""

from __future__ import annotations

from montalaq._native import errors as _e

ErrorCode = _e.ErrorCode

__all__ = ["ErrorCode"]
