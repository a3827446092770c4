"""A MarketEngine as the escalation board's tick source (docs/semantics.md, "Health core":
pairs): the board keeps the engine's pair indices between cycles, extends them when the
engine gains symbols, rebuilds them for another engine or after a load, and stores exactly
what the mapping form ``{(symbol, timeframe): ts}`` of the same ticks stores."""

from __future__ import annotations

import gc

import numpy as np

from montalaq import EscalationBoard, MarketEngine

SEC = 1_000_000_000
T0 = 1_723_161_600 * SEC
TFS = ("1m", "5m")


def engine_with(symbols: dict[str, int], timeframes: tuple[str, ...] = TFS) -> MarketEngine:
    """An engine whose symbols last traded at the given times (in this order of first sight)."""
    eng = MarketEngine(timeframes)
    for sym, ts in symbols.items():
        eng.on_trade(sym, ts, 100.0, 1.0)
    return eng


def as_mapping(eng: MarketEngine) -> dict[tuple[str, str], int]:
    symbols, last = eng.last_trades()
    return {(s, tf): int(t) for s, t in zip(symbols, last, strict=True) for tf in eng.timeframes}


def twins() -> tuple[EscalationBoard, EscalationBoard]:
    """Two boards with the same pairs, some not in any engine and one the engine has,
    registered first: the engine's pairs are not the board's first indices."""
    boards = (EscalationBoard(), EscalationBoard())
    for b in boards:
        b.add_pair("OTHER", "1m")
        b.add_pair("B", "5m")
    return boards


def test_engine_ticks_equal_the_mapping_of_the_same_ticks_as_the_engine_grows() -> None:
    by_engine, by_mapping = twins()
    eng = engine_with({"A": T0 - 30 * SEC, "B": T0 - 200 * SEC})
    now = T0
    for step in range(6):
        if step == 2:
            eng.on_trade("C", now - 100 * SEC, 1.0, 1.0)  # a new symbol: its pairs join
        if step == 4:
            eng.on_trade("A", now - SEC, 1.0, 1.0)
        events = by_engine.evaluate(now, eng)  # positional, as the README's tour
        assert events == by_mapping.evaluate(now, as_mapping(eng))
        assert by_engine.to_json() == by_mapping.to_json()
        now += 60 * SEC
    assert {(r["symbol"], r["timeframe"]) for r in by_engine.pairs(now)} == {
        ("OTHER", "1m"),
        *((s, tf) for s in "ABC" for tf in TFS),
    }


def test_the_index_map_is_built_once_and_extended() -> None:
    b = EscalationBoard()
    eng = engine_with({"A": T0, "B": T0})
    b.evaluate(T0, eng)
    kept = b._engine_ticks
    assert kept is not None
    idx = kept._idx
    b.evaluate(T0 + SEC, last_tick_ns=eng)
    assert b._engine_ticks is kept
    assert kept._idx is idx  # nothing new: not rebuilt
    eng.on_trade("C", T0, 1.0, 1.0)
    b.evaluate(T0 + 2 * SEC, eng)
    assert b._engine_ticks is kept
    assert kept._idx.tolist() == [0, 1, 2, 3, 4, 5]


def test_another_engine_gets_its_own_map() -> None:
    by_engine, by_mapping = twins()
    first = engine_with({"A": T0, "B": T0})
    second = engine_with({"B": T0 - 500 * SEC, "Z": T0 - 100 * SEC, "A": T0 - 5 * SEC}, ("5m", "1m", "1h"))
    for eng in (first, second, first):
        assert by_engine.evaluate(T0, eng) == by_mapping.evaluate(T0, as_mapping(eng))
        assert by_engine.to_json() == by_mapping.to_json()
    del first, second
    gc.collect()
    third = engine_with({"Q": T0 - 50 * SEC, "A": T0 - 70 * SEC})  # perhaps at a freed engine's address
    assert by_engine.evaluate(T0, third) == by_mapping.evaluate(T0, as_mapping(third))
    assert by_engine.to_json() == by_mapping.to_json()


def test_a_load_drops_the_map_for_the_loaded_pair_order() -> None:
    eng = engine_with({"A": T0 - 100 * SEC, "B": T0 - 10 * SEC})
    reordered = EscalationBoard()
    reordered.add_pairs(["B", "A"], ["5m", "1m"])  # other indices than the engine's order
    for load in ("json", "bytes"):
        b = EscalationBoard()
        b.evaluate(T0, eng)
        if load == "json":
            b.load_json(reordered.to_json())
        else:
            b.load_bytes(reordered.to_bytes())
        twin = EscalationBoard.from_json(reordered.to_json())
        assert b.evaluate(T0, eng) == twin.evaluate(T0, as_mapping(eng))
        assert b.to_json() == twin.to_json()


def test_set_last_ticks_from_an_engine() -> None:
    by_engine, by_mapping = twins()
    eng = engine_with({"B": T0 - 100 * SEC, "A": T0})
    by_engine.set_last_ticks(eng)
    by_mapping.set_last_ticks(as_mapping(eng))
    assert by_engine.to_json() == by_mapping.to_json()
    ticks = {(r["symbol"], r["timeframe"]): r["last_tick_ns"] for r in by_engine.pairs(T0)}
    assert ticks == {
        ("OTHER", "1m"): None,
        ("B", "5m"): T0 - 100 * SEC,
        ("B", "1m"): T0 - 100 * SEC,
        ("A", "1m"): T0,
        ("A", "5m"): T0,
    }


def test_an_engine_that_never_traded_a_symbol_gives_it_no_tick() -> None:
    eng = MarketEngine(("1m",), symbols=["A", "B"])  # allow-listed: known before any trade
    eng.on_trade("A", T0, 1.0, 1.0)
    b = EscalationBoard()
    b.evaluate(T0, eng)
    assert [(r["symbol"], r["freshness"]) for r in b.pairs(T0)] == [("A", "GREEN"), ("B", "RED")]
    assert np.array_equal(eng._last_trade_ns(), np.array([T0, 0], dtype=np.int64))
    assert eng._symbols_since(1) == ["B"]
    assert eng._symbols_since(5) == []
