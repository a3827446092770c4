"""Start-up checks: the named check, its result, and how a return value or an exception
becomes a TRANSIENT or PERMANENT failure (docs/semantics.md, section Lifecycle, "Checks")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from montalaq.errors import DEFAULT_TAXONOMY, ErrorCode, ErrorKind, ErrorTaxonomy
from montalaq.shapes import CheckResultDoc, FailingCheck


def code_name(code: object) -> str | None:
    """The taxonomy code's name for an ErrorCode, a code name or None; ValueError otherwise."""
    if code is None:
        return None
    name = getattr(code, "name", code)
    if not isinstance(name, str) or not name:
        raise ValueError(f"error_code: expected an ErrorCode, a code name or None, got {code!r}")
    return name


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``ok``, or a failure of ``kind`` TRANSIENT/PERMANENT with a
    human-readable ``detail`` and optionally the taxonomy ``error_code`` (its name)."""

    ok: bool
    kind: ErrorKind | None = None
    detail: str = ""
    error_code: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ok, bool):
            raise TypeError(f"ok: expected a bool, got {type(self.ok).__name__}")
        if self.ok and self.kind is not None:
            raise ValueError("kind: a passing check has no failure kind")
        if not self.ok and not isinstance(self.kind, ErrorKind):
            raise ValueError(
                f"kind: a failing check needs ErrorKind.TRANSIENT or PERMANENT, got {self.kind!r}"
            )
        if not isinstance(self.detail, str):
            raise TypeError(f"detail: expected a str, got {type(self.detail).__name__}")
        object.__setattr__(self, "error_code", code_name(self.error_code))

    @classmethod
    def passed(cls, detail: str = "") -> CheckResult:
        """A passing result."""
        return cls(True, None, detail)

    @classmethod
    def transient(cls, detail: str, error_code: ErrorCode | str | None = None) -> CheckResult:
        """A failure that may pass with time (retried, then WAITING)."""
        return cls(False, ErrorKind.TRANSIENT, detail, code_name(error_code))

    @classmethod
    def permanent(cls, detail: str, error_code: ErrorCode | str | None = None) -> CheckResult:
        """A failure no retry fixes (ERROR)."""
        return cls(False, ErrorKind.PERMANENT, detail, code_name(error_code))

    def to_dict(self) -> CheckResultDoc:
        """JSON-ready form (what is persisted in ``operational_state.details``)."""
        return {
            "ok": self.ok,
            "kind": None if self.kind is None else self.kind.value,
            "detail": self.detail,
            "error_code": self.error_code,
        }


CheckFn = Callable[[], CheckResult | bool | None]


@dataclass(frozen=True)
class StartupCheck:
    """A named check: ``fn()`` returns a :class:`CheckResult`, True/None (pass) or False
    (TRANSIENT failure), or raises (classified through the error taxonomy)."""

    name: str
    fn: CheckFn

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"fn: check {self.name!r} needs a callable, got {type(self.fn).__name__}")


def as_checks(checks: Iterable[StartupCheck] | Mapping[str, CheckFn]) -> tuple[StartupCheck, ...]:
    """StartupCheck items or a mapping name -> callable, as checks with unique names."""
    if isinstance(checks, Mapping):
        items = tuple(StartupCheck(name, fn) for name, fn in checks.items())
    else:
        items = tuple(checks)
        for c in items:
            if not isinstance(c, StartupCheck):
                raise TypeError(
                    "checks: expected StartupCheck items or a mapping name -> callable, "
                    f"got {type(c).__name__}"
                )
    names = [c.name for c in items]
    if len(set(names)) != len(names):
        raise ValueError(f"checks: names must be unique, got {names}")
    return items


def describe(exc: BaseException) -> str:
    """``"Type: message"`` (just the type's name when the message is empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_exception(exc: BaseException, taxonomy: ErrorTaxonomy | None = None) -> CheckResult:
    """A failing :class:`CheckResult` for an exception a check raised: its taxonomy code and
    that code's kind (UNKNOWN, and a code the taxonomy does not know, are PERMANENT)."""
    tax = taxonomy if taxonomy is not None else DEFAULT_TAXONOMY
    code = tax.code_for(exc)
    try:
        kind = tax.kind_of(code)
    except ValueError:
        kind = ErrorKind.PERMANENT
    return CheckResult(False, kind, describe(exc), code_name(code))


def normalise(value: object, name: str) -> CheckResult:
    """What check ``name`` returned, as a result: True/None pass, False is TRANSIENT, anything
    else but a CheckResult is a PERMANENT failure (a programming error no retry fixes)."""
    if isinstance(value, CheckResult):
        return value
    if value is None or value is True:
        return CheckResult.passed()
    if value is False:
        return CheckResult.transient(f"check {name} returned False")
    return CheckResult.permanent(
        f"check {name} returned {type(value).__name__}; expected CheckResult, bool or None"
    )


# -- a set of results, as persisted, logged and notified


def failing_details(results: Mapping[str, CheckResult]) -> dict[str, FailingCheck]:
    """The failing results: name -> {kind, detail, error_code} (``details["failing"]``)."""
    return {
        name: {"kind": r.kind.value if r.kind else None, "detail": r.detail, "error_code": r.error_code}
        for name, r in results.items()
        if not r.ok
    }


def summary(results: Mapping[str, CheckResult]) -> str:
    """``"name: detail; name: detail"`` for a state's reason or a notification's text."""
    return "; ".join(
        f"{name}: {r.detail or (r.kind.value if r.kind else 'failed')}" for name, r in results.items()
    )


def first_code(results: Mapping[str, CheckResult]) -> str | None:
    """The first error code among ``results`` (a notification's ``error_code``)."""
    return next((r.error_code for r in results.values() if r.error_code), None)
