"""The built-in ``trend_score`` agent: ``p_up`` per evaluation and a FLAT/LONG/SHORT posture
per symbol that changes only after ``TS_PERSIST`` confirming evaluations, persisted in
``position_state`` (docs/semantics.md, "Agents")."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from montalaq._validate import finite_or_none
from montalaq.agents.context import AgentContext
from montalaq.agents.trend import DEFAULT_TS_WEIGHTS, TREND_FEATURES, trend_features, trend_p_up
from montalaq.records import Finding

if TYPE_CHECKING:
    from montalaq.settings import Settings
    from montalaq.store import Store

log = logging.getLogger("montalaq.agents")

POSTURES = ("FLAT", "LONG", "SHORT")
Posture = Literal["FLAT", "LONG", "SHORT"]


@dataclass
class _PostureState:
    posture: Posture = "FLAT"
    up_streak: int = 0  # consecutive evaluations confirming the pending move
    down_streak: int = 0
    persisted: bool = False  # a position_state row reflects `posture`


class TrendScore:
    """The built-in ``trend_score`` agent with its posture per symbol (docs/semantics.md, "Agents").

    ``weights``: the five ``TS_WEIGHTS``; ``entry``/``exit``: ``TS_ENTRY``/``TS_EXIT``
    (probabilities, ``exit <= entry``); ``persist``: ``TS_PERSIST`` evaluations; ``store``:
    where postures are persisted and restored from (None: memory only). Thread-safe.
    """

    name = "trend_score"

    def __init__(
        self,
        weights: Sequence[float] = DEFAULT_TS_WEIGHTS,
        *,
        entry: float = 0.6,
        exit: float = 0.5,
        persist: int = 3,
        bias: float = 0.0,
        store: Store | None = None,
    ) -> None:
        w = [float(x) for x in weights]
        if len(w) != len(TREND_FEATURES) or not all(math.isfinite(x) for x in w):
            raise ValueError(f"weights: expected {len(TREND_FEATURES)} finite numbers, got {list(weights)!r}")
        if not (0 < exit <= entry < 1):
            raise ValueError(
                f"entry/exit: expected 0 < exit <= entry < 1, got entry={entry!r}, exit={exit!r}"
            )
        if isinstance(persist, bool) or not isinstance(persist, int) or persist < 1:
            raise ValueError(f"persist: expected an integer >= 1, got {persist!r}")
        if not math.isfinite(bias):
            raise ValueError(f"bias: expected a finite number, got {bias!r}")
        self.weights = tuple(w)
        self.entry = float(entry)
        self.exit = float(exit)
        self.persist = persist
        self.bias = float(bias)
        self.store = store
        self._states: dict[str, _PostureState] = {}
        self._lock = threading.Lock()
        if store is not None:
            self.restore()

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> TrendScore:
        """``TS_WEIGHTS``, ``TS_ENTRY``, ``TS_EXIT``, ``TS_PERSIST`` from ``settings``."""
        return cls(
            settings.ts_weights,
            entry=settings.ts_entry,
            exit=settings.ts_exit,
            persist=settings.ts_persist,
            store=store,
        )

    def restore(self) -> int:
        """Load postures from ``position_state`` (rows whose status is FLAT/LONG/SHORT);
        returns how many were restored. A store that cannot be read is logged, not raised."""
        if self.store is None:
            return 0
        try:
            rows = self.store.positions()
        except Exception as exc:
            log.warning("trend_score: could not restore postures: %s", exc, extra={"component": "agents"})
            return 0
        n = 0
        with self._lock:
            for row in rows:
                status = row["status"]
                if status in POSTURES:
                    posture = cast(Posture, status)
                    self._states[str(row["symbol"])] = _PostureState(posture=posture, persisted=True)
                    n += 1
        return n

    def posture(self, symbol: str) -> Posture:
        """The current posture of ``symbol`` (FLAT if never evaluated)."""
        with self._lock:
            st = self._states.get(symbol)
            return "FLAT" if st is None else st.posture

    def postures(self) -> dict[str, Posture]:
        """Every known symbol's posture."""
        with self._lock:
            return {s: st.posture for s, st in self._states.items()}

    def p_up(self, signals_tf: Mapping[str, float | None]) -> float | None:
        """``p_up`` for a ``/signals_tf`` mapping, None when a feature is undefined."""
        f = trend_features(signals_tf)
        return None if f is None else trend_p_up(f, self.weights, self.bias)

    def _advance(self, st: _PostureState, p_up: float) -> tuple[Posture, int]:
        """One evaluation of the posture machine; returns (new posture, streak shown)."""
        p_down = 1.0 - p_up
        if st.posture == "FLAT":
            long_ok, short_ok = p_up >= self.entry, p_down >= self.entry
            if long_ok and short_ok:  # only possible with entry <= 0.5: no direction
                st.up_streak = st.down_streak = 0
                return "FLAT", 0
            st.up_streak = st.up_streak + 1 if long_ok else 0
            st.down_streak = st.down_streak + 1 if short_ok else 0
            if st.up_streak >= self.persist:
                return "LONG", st.up_streak
            if st.down_streak >= self.persist:
                return "SHORT", st.down_streak
            return "FLAT", max(st.up_streak, st.down_streak)
        # LONG exits on p_up <= exit; SHORT mirrors it with p_down.
        weak = (p_up if st.posture == "LONG" else p_down) <= self.exit
        st.down_streak = st.down_streak + 1 if weak else 0
        st.up_streak = 0
        if st.down_streak >= self.persist:
            return "FLAT", st.down_streak
        return st.posture, st.down_streak

    def __call__(self, ctx: AgentContext) -> Finding | None:
        """Evaluate ``ctx.symbol``: a finding with ``p_up`` and the posture, or None when a
        feature is undefined (posture and streaks untouched)."""
        f = trend_features(ctx.signals_tf)
        if f is None:
            return None
        p_up = trend_p_up(f, self.weights, self.bias)
        with self._lock:
            st = self._states.setdefault(ctx.symbol, _PostureState())
            previous = st.posture
            new, streak = self._advance(st, p_up)
            changed = new != previous
            if changed:
                st.posture = new
                st.up_streak = st.down_streak = 0
                st.persisted = False
            write = not st.persisted
        if write and self.store is not None:
            self.store.upsert_position(
                ctx.symbol,
                new,
                0.0,
                last_action=f"{previous}->{new}" if changed else new,
                last_conf=p_up,
                now=ctx.now,
            )
            with self._lock:
                if st.posture == new:
                    st.persisted = True
        if changed:
            log.info(
                "trend_score %s: %s -> %s (p_up %.3f)",
                ctx.symbol,
                previous,
                new,
                p_up,
                extra={"component": "agents", "agent": self.name, "symbol": ctx.symbol},
            )
        details: dict[str, Any] = {
            "p_up": p_up,
            "posture": new,
            "previous": previous,
            "changed": changed,
            "streak": 0 if changed else streak,
        }
        details.update(dict(zip(TREND_FEATURES, (*f[:4], f[4] + 1.0), strict=True)))
        # The book when the posture was judged (None until the feed delivered a quote).
        details["best_bid"] = finite_or_none(ctx.signals.get("best_bid"))
        details["best_ask"] = finite_or_none(ctx.signals.get("best_ask"))
        return ctx.finding(self.name, score=p_up, label=new, details=details)


__all__ = ["POSTURES", "Posture", "TrendScore"]
