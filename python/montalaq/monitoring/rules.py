"""Alert rules: the eight built-ins plus declarative user rules, evaluated in the native
core (``montalaq._core.rules``)::

    RuleSet([{"name": "drawdown_warning", "metric": "risk.daily_loss_pct", "op": ">=",
              "threshold": 2.5, "for_s": 120, "severity": "WARNING"}])

The rule format, its sources and the built-ins: docs/semantics.md, "Monitoring".
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from montalaq import _native
from montalaq._time import UNSET, TimeLike, Unset, now_or_old_ns
from montalaq.shapes import FiringRule, RuleTransition

#: Defaults of the built-in rules' thresholds (settable per service).
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "sentiment_errors_per_hour": 10.0,
    "teacher_model_max_age_hours": 24.0,
    "student_model_max_age_hours": 24.0,
    "heartbeat_max_age_s": 120.0,
    "daily_loss_max_pct": 5.0,
}


def load_rules(source: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    """User rules from a YAML/JSON file path, a list of mappings, or ``{"rules": [...]}``."""
    data: Any = source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"rules: no such file {str(path)!r}")
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"rules: {path} is not valid YAML: {exc}") from None
        else:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"rules: {path} is not valid JSON: {exc}") from None
    if isinstance(data, Mapping):
        if set(data) != {"rules"}:
            raise ValueError("rules: expected a list of rules or a mapping with one key 'rules'")
        data = data["rules"]
    if data is None:
        return []
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise ValueError(f"rules: expected a list of rule mappings, got {type(data).__name__}")
    out = []
    for i, rule in enumerate(data):
        if not isinstance(rule, Mapping):
            raise ValueError(f"rules[{i}]: expected a mapping with name, metric, op, threshold, got {rule!r}")
        out.append(dict(rule))
    return out


class RuleSet:
    """The native rule engine with the built-ins (unless ``builtin=False``) and ``rules``.

    Not thread-safe: one owner (the monitoring worker) calls :meth:`evaluate`.
    """

    def __init__(
        self,
        rules: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        builtin: bool = True,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        merged = dict(DEFAULT_THRESHOLDS)
        for key, value in (thresholds or {}).items():
            if key not in DEFAULT_THRESHOLDS:
                raise ValueError(
                    f"thresholds: unknown {key!r}; expected some of {sorted(DEFAULT_THRESHOLDS)}"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"thresholds[{key!r}]: expected a finite number >= 0, got {value!r}")
            merged[key] = float(value)
        self.thresholds = merged
        native = _native.rules
        self._engine = native.RuleEngine()
        if builtin:
            self._engine.add_rules_json(native.builtin_rules_json(native.BuiltinThresholds(**merged)))
        self._refresh()
        if rules is not None:
            self.add(rules)

    def add(self, rules: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        """Add user rules (all or none: a bad one raises ValueError and adds nothing)."""
        loaded = load_rules(rules)
        if loaded:
            try:
                text = json.dumps(loaded, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"rules: not representable as JSON ({exc})") from None
            self._engine.add_rules_json(text)
        self._refresh()

    def _refresh(self) -> None:
        self.paths: list[str] = list(self._engine.paths())
        self._slots = {p: i for i, p in enumerate(self.paths)}
        self.metric_paths: frozenset[str] = frozenset(self.paths)
        """Every metric path some rule reads."""

    @property
    def rule_count(self) -> int:
        """How many rules are loaded."""
        return int(self._engine.rule_count)

    def rules(self) -> list[dict[str, Any]]:
        """Every rule as its definition mapping."""
        return list(json.loads(self._engine.rules_json()))

    def evaluate(
        self,
        now: TimeLike | None = None,
        flat: Mapping[str, float] | None = None,
        *,
        now_ns: int | Unset = UNSET,
    ) -> list[RuleTransition]:
        """Evaluate every rule against ``flat`` metrics (required) at ``now`` (int ns, an aware
        datetime or datetime64; None: the wall clock); FIRING/RESOLVED events. ``now_ns=`` is
        deprecated."""
        at = now_or_old_ns(now, now_ns)
        if flat is None:
            raise TypeError("evaluate() missing required argument 'flat'")
        values = np.full(len(self.paths), np.nan)
        for path, slot in self._slots.items():
            v = flat.get(path)
            if v is not None:
                values[slot] = v
        return list(self._engine.evaluate(time.time_ns() if at is None else at, values))

    def acknowledge(self, rule: str, now: TimeLike | None = None, *, now_ns: int | Unset = UNSET) -> bool:
        """Acknowledge the firing alert of ``rule`` at ``now`` (None: the wall clock); False
        when it is not firing. ``now_ns=`` is deprecated."""
        at = now_or_old_ns(now, now_ns)
        return bool(self._engine.acknowledge(rule, time.time_ns() if at is None else at))

    def active(self) -> list[FiringRule]:
        """Firing rules: ``{rule, severity, since_ns, fired_at_ns, value, acknowledged, message}``."""
        return list(self._engine.active())

    def state_json(self) -> str:
        """The evaluator's state (pending timers, firing flags) as JSON."""
        return str(self._engine.state_json())

    def load_state_json(self, text: str) -> None:
        """Restore :meth:`state_json` (ValueError on a bad or foreign document)."""
        self._engine.load_state_json(text)


__all__ = ["DEFAULT_THRESHOLDS", "RuleSet", "load_rules"]
