"""Names the records share: the freshness colours, the escalation levels and an ISO-8601
time string (docs/semantics.md, "Time values in Python")."""

from typing import Literal, NewType

FreshnessName = Literal["GREEN", "AMBER", "RED", "CLOSED"]
# What a status row shows: UNKNOWN for a pair this process never evaluated (no scheduler here).
PairFreshnessName = Literal["GREEN", "AMBER", "RED", "CLOSED", "UNKNOWN"]
"""A pair's freshness colour; CLOSED: outside its market calendar's sessions."""
LevelName = Literal["INFO", "WARN", "ERROR", "CRITICAL"]
"""An escalation level."""
IsoTime = NewType("IsoTime", str)
"""An aware UTC time as ISO-8601 text with a ``Z`` (``montalaq._time.iso_z``): the JSON form a
record keeps where it is written to a file, a queue or a database as text. The API's schema
shows it as a date-time."""

__all__ = ["FreshnessName", "IsoTime", "LevelName", "PairFreshnessName"]
