"""The error taxonomy (docs/semantics.md, Guards).

``ErrorCode`` is one enum shared with the native core. Exceptions map to codes through
their MRO (:func:`error_code_for`), each code is TRANSIENT (worth retrying) or PERMANENT,
and applications may register their own exception classes and codes on a
:class:`ErrorTaxonomy` (the process-wide default is :data:`DEFAULT_TAXONOMY`).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from types import MappingProxyType

from montalaq._native import errors as _e

ErrorCode = _e.ErrorCode

Code = ErrorCode | str  # built-in codes, or a name an application registered


class ErrorKind(enum.Enum):
    """Whether an error is worth retrying."""

    TRANSIENT = "TRANSIENT"
    PERMANENT = "PERMANENT"


# Decisions (docs/semantics.md): timeouts, disconnects, stale data, an open circuit and
# rate limiting pass with time; a duplicate, a failing analysis and anything unknown do not,
# so they are not retried by default.
_DEFAULT_KINDS: dict[str, ErrorKind] = {
    "INGESTION_TIMEOUT": ErrorKind.TRANSIENT,
    "PROVIDER_DISCONNECTED": ErrorKind.TRANSIENT,
    "DUPLICATE_TICK": ErrorKind.PERMANENT,
    "FRESHNESS_THRESHOLD_EXCEEDED": ErrorKind.TRANSIENT,
    "ANALYSIS_ERR": ErrorKind.PERMANENT,
    "CIRCUIT_OPEN": ErrorKind.TRANSIENT,
    "RATE_LIMITED": ErrorKind.TRANSIENT,
    "UNKNOWN": ErrorKind.PERMANENT,
}

_DEFAULT_EXCEPTIONS: dict[type[BaseException], Code] = {
    TimeoutError: ErrorCode.INGESTION_TIMEOUT,
    ConnectionError: ErrorCode.PROVIDER_DISCONNECTED,
    RuntimeError: ErrorCode.ANALYSIS_ERR,
}


def _name(code: Code) -> str:
    if isinstance(code, ErrorCode):
        return str(code.name)
    if isinstance(code, str) and code and code.upper() == code and code.replace("_", "").isalnum():
        return code
    raise ValueError(f"error code: expected an ErrorCode or an UPPER_SNAKE name, got {code!r}")


class ErrorTaxonomy:
    """Exception classes -> codes -> TRANSIENT/PERMANENT, extensible. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, ErrorKind] = dict(_DEFAULT_KINDS)
        self._exceptions: dict[type[BaseException], Code] = dict(_DEFAULT_EXCEPTIONS)

    def register_code(self, code: str, kind: ErrorKind) -> None:
        """Add an application error code (UPPER_SNAKE) with its kind."""
        name = _name(code)
        if not isinstance(kind, ErrorKind):
            raise TypeError(f"kind: expected ErrorKind.TRANSIENT or ErrorKind.PERMANENT, got {kind!r}")
        with self._lock:
            self._kinds[name] = kind

    def register_exception(self, exc_type: type[BaseException], code: Code) -> None:
        """Map an exception class (and, through the MRO, its subclasses) to a code."""
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            raise TypeError(f"exc_type: expected an exception class, got {exc_type!r}")
        name = _name(code)
        with self._lock:
            if name not in self._kinds:
                raise ValueError(f"code: unknown error code {name!r}; register it with register_code first")
            self._exceptions[exc_type] = code

    def code_for(self, exc: BaseException | type[BaseException]) -> Code:
        """The code of an exception: the first class in its MRO that is mapped; else UNKNOWN."""
        cls = exc if isinstance(exc, type) else type(exc)
        with self._lock:
            for base in cls.__mro__:
                if base in self._exceptions:
                    return self._exceptions[base]
        return ErrorCode.UNKNOWN

    def kind_of(self, code: Code) -> ErrorKind:
        """TRANSIENT or PERMANENT; an unregistered code is a ValueError."""
        name = _name(code)
        with self._lock:
            try:
                return self._kinds[name]
            except KeyError:
                raise ValueError(
                    f"code: unknown error code {name!r}; register it with register_code"
                ) from None

    def is_transient(self, exc: BaseException) -> bool:
        """Whether the exception's code is TRANSIENT."""
        return self.kind_of(self.code_for(exc)) is ErrorKind.TRANSIENT

    def exception_map(self) -> Mapping[type[BaseException], Code]:
        """A read-only snapshot of the exception -> code map."""
        with self._lock:
            return MappingProxyType(dict(self._exceptions))


DEFAULT_TAXONOMY = ErrorTaxonomy()
"""The process-wide taxonomy that RetryPolicy and the notifiers use unless given another."""

EXCEPTION_MAP: Mapping[type[BaseException], Code] = MappingProxyType(DEFAULT_TAXONOMY._exceptions)
"""Live read-only view of the default exception -> code map (register through DEFAULT_TAXONOMY)."""


def error_code_for(exc: BaseException | type[BaseException]) -> Code:
    """The code of an exception under the default taxonomy (MRO; UNKNOWN otherwise)."""
    return DEFAULT_TAXONOMY.code_for(exc)


def kind_of(code: Code) -> ErrorKind:
    """TRANSIENT or PERMANENT under the default taxonomy."""
    return DEFAULT_TAXONOMY.kind_of(code)


__all__ = [
    "DEFAULT_TAXONOMY",
    "EXCEPTION_MAP",
    "Code",
    "ErrorCode",
    "ErrorKind",
    "ErrorTaxonomy",
    "error_code_for",
    "kind_of",
]
