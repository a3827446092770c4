"""
Alert-rule evaluator of the monitoring service
"""

from __future__ import annotations

import typing

import numpy
import numpy.typing

import montalaq.shapes

__all__: list[str] = ["BuiltinThresholds", "Comparison", "RuleEngine", "Severity", "builtin_rules_json"]

class Comparison:
    """
    How a rule compares its metric with its threshold.

    Members:

      GT : value > threshold

      GE : value >= threshold

      LT : value < threshold

      LE : value <= threshold

      EQ : value == threshold

      NE : value != threshold
    """

    EQ: typing.ClassVar[Comparison]
    GE: typing.ClassVar[Comparison]
    GT: typing.ClassVar[Comparison]
    LE: typing.ClassVar[Comparison]
    LT: typing.ClassVar[Comparison]
    NE: typing.ClassVar[Comparison]
    __members__: typing.ClassVar[dict[str, Comparison]]
    @typing.overload
    def __eq__(self, other: Comparison) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: Comparison) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Severity:
    """
    Alert severity (docs/semantics.md, Monitoring).

    Members:

      INFO

      WARNING

      CRITICAL
    """

    CRITICAL: typing.ClassVar[Severity]
    INFO: typing.ClassVar[Severity]
    WARNING: typing.ClassVar[Severity]
    __members__: typing.ClassVar[dict[str, Severity]]
    @typing.overload
    def __eq__(self, other: Severity) -> bool: ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool: ...
    def __getstate__(self) -> int: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __int__(self) -> int: ...
    @typing.overload
    def __ne__(self, other: Severity) -> bool: ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __str__(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class BuiltinThresholds:
    """
    Thresholds of the eight built-in rules (docs/semantics.md, Monitoring); every field finite and >= 0 (ValueError naming it otherwise).
    """
    def __init__(
        self,
        *,
        sentiment_errors_per_hour: typing.SupportsFloat | typing.SupportsIndex = 10.0,
        teacher_model_max_age_hours: typing.SupportsFloat | typing.SupportsIndex = 24.0,
        student_model_max_age_hours: typing.SupportsFloat | typing.SupportsIndex = 24.0,
        heartbeat_max_age_s: typing.SupportsFloat | typing.SupportsIndex = 120.0,
        daily_loss_max_pct: typing.SupportsFloat | typing.SupportsIndex = 5.0,
    ) -> None: ...
    def __repr__(self) -> str: ...
    @property
    def daily_loss_max_pct(self) -> float:
        """
        daily_loss_exceeded: daily loss in percent (positive is a loss).
        """
    @daily_loss_max_pct.setter
    def daily_loss_max_pct(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def heartbeat_max_age_s(self) -> float:
        """
        heartbeat_lapsed: maximum seconds since the last engine tick.
        """
    @heartbeat_max_age_s.setter
    def heartbeat_max_age_s(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def sentiment_errors_per_hour(self) -> float:
        """
        sentiment_failures_high: provider errors in the last hour.
        """
    @sentiment_errors_per_hour.setter
    def sentiment_errors_per_hour(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def student_model_max_age_hours(self) -> float:
        """
        stale_student_model: maximum age in hours.
        """
    @student_model_max_age_hours.setter
    def student_model_max_age_hours(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def teacher_model_max_age_hours(self) -> float:
        """
        stale_teacher_model: maximum age in hours.
        """
    @teacher_model_max_age_hours.setter
    def teacher_model_max_age_hours(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...

class RuleEngine:
    """
    Alert-rule evaluator (docs/semantics.md, Monitoring): rules over metric paths, each path a slot in the values passed to evaluate(). A rule fires once when its condition has held for its `for`, resolves once when it stops holding; NaN (a missing metric) changes nothing.

    Thread safety: meant for one owner thread (the monitoring worker). No lock inside; every method runs holding the GIL and none releases it, so calls from other threads are serialised, never interleaved.
    """
    def __init__(self) -> None: ...
    def acknowledge(self, rule: str, now_ns: typing.SupportsInt | typing.SupportsIndex) -> bool:
        """
        Mark a firing rule acknowledged (until it resolves): True; False if it is not firing; ValueError for a rule name this engine does not have.
        """
    def active(self) -> list[montalaq.shapes.FiringRule]:
        """
        The firing rules as dicts {rule, severity, since_ns, fired_at_ns, value (the latest), acknowledged, message (as fired)}.
        """
    def add_rules_json(self, text: str) -> None:
        """
        Add every rule of a JSON array of {name, metric, op, threshold | threshold_metric, for_s, severity, message}. The whole document is checked first: ValueError (naming the element and the field) adds nothing.
        """
    def evaluate(
        self,
        now_ns: typing.SupportsInt | typing.SupportsIndex,
        values: typing.Annotated[numpy.typing.ArrayLike, numpy.float64],
    ) -> list[montalaq.shapes.RuleTransition]:
        """
        One evaluation at now_ns (int ns) over one float per slot (NaN: missing). Returns this evaluation's transitions as dicts {rule, severity, state ('FIRING' | 'RESOLVED'), value, threshold, since_ns, at_ns, message, metric}; ValueError if len(values) != len(paths()).
        """
    def load_state_json(self, text: str) -> None:
        """
        Restore a state_json() document; validated whole, so ValueError (including a rule this engine does not have) changes nothing. Rules the document does not mention start afresh.
        """
    def paths(self) -> list[str]:
        """
        Metric paths the rules read, in slot order: evaluate() takes one value per path.
        """
    def rules_json(self) -> str:
        """
        Every rule, in the order added, as a rules document.
        """
    def slot(self, path: str) -> int | None:
        """
        The slot of a metric path, or None if no rule reads it.
        """
    def state_json(self) -> str:
        """
        Every rule's evaluation state as a JSON string.
        """
    @property
    def evaluations(self) -> int:
        """
        evaluate() calls so far (kept in state_json).
        """
    @property
    def rule_count(self) -> int:
        """
        Rules in the engine.
        """

def builtin_rules_json(thresholds: BuiltinThresholds) -> str:
    """
    The eight built-in rules (circuit_breaker_triggered, sentiment_failures_high, stale_teacher_model, stale_student_model, heartbeat_lapsed, connectivity_lost, daily_loss_exceeded, position_limit_breached) as a JSON rules document for RuleEngine.add_rules_json.
    """
