"""validate_trading_decision (docs/semantics.md, Guards): every invariant and reason code, the order of the
checks, the one structured BLOCKED log line, and clear errors for a bad context."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from montalaq import correlation
from montalaq.safety import OrderKind, SafetyReason, validate_trading_decision

ALLOWED = {"EURUSD", "BTCUSD"}


def check(
    symbol: Any = "EURUSD",
    side: Any = "BUY",
    quantity: Any = 1000,
    price: Any = 1.23456,
    **kw: Any,
) -> SafetyReason:
    kw.setdefault("tick_size", 0.00001)
    kw.setdefault("allowed_symbols", ALLOWED)
    return validate_trading_decision(symbol, side, quantity, price, **kw)


def blocked(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "montalaq.safety"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, SafetyReason.OK),
        ({"symbol": "GBPUSD"}, SafetyReason.INVALID_SYMBOL),
        ({"symbol": "eurusd"}, SafetyReason.INVALID_SYMBOL),
        ({"symbol": ""}, SafetyReason.INVALID_SYMBOL),
        ({"symbol": None}, SafetyReason.INVALID_SYMBOL),
        ({"side": "HOLD"}, SafetyReason.INVALID_SIDE),
        ({"side": "buy"}, SafetyReason.INVALID_SIDE),
        ({"side": ""}, SafetyReason.INVALID_SIDE),
        ({"side": None}, SafetyReason.INVALID_SIDE),
        ({"quantity": 0}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": -1}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": math.nan}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": math.inf}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": None}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": "1000"}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": True}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": 10**400}, SafetyReason.INVALID_QUANTITY),
        ({"quantity": Decimal("NaN")}, SafetyReason.INVALID_QUANTITY),
        ({"price": 0.0}, SafetyReason.INVALID_PRICE),
        ({"price": -1.23456}, SafetyReason.INVALID_PRICE),
        ({"price": math.nan}, SafetyReason.INVALID_PRICE),
        ({"price": -math.inf}, SafetyReason.INVALID_PRICE),
        ({"price": None}, SafetyReason.INVALID_PRICE),
        ({"price": 1.234565}, SafetyReason.INVALID_PRICE),  # half a tick off
        ({"price": Decimal("sNaN")}, SafetyReason.INVALID_PRICE),
        ({"kind": "TAKE_PROFIT", "side": "SELL", "position_qty": 1000}, SafetyReason.TP_SL_WITHOUT_FILL),
        (
            {"kind": OrderKind.STOP_LOSS, "side": "SELL", "position_qty": 1000},
            SafetyReason.TP_SL_WITHOUT_FILL,
        ),
        ({"side": "SELL"}, SafetyReason.SELL_WITHOUT_POSITION),
        ({"side": "SELL", "position_qty": 999}, SafetyReason.SELL_WITHOUT_POSITION),
        ({"side": "SELL", "position_qty": -1000}, SafetyReason.SELL_WITHOUT_POSITION),
    ],
)
def test_each_invariant_has_its_reason(kwargs: dict[str, Any], reason: SafetyReason) -> None:
    assert check(**kwargs) == reason


@pytest.mark.parametrize(
    ("kind", "side", "filled", "position"),
    [
        (OrderKind.ENTRY, "BUY", False, 0.0),
        (OrderKind.ENTRY, "BUY", False, -5.0),  # buying back a short is not blocked
        (OrderKind.TAKE_PROFIT, "SELL", True, 1000.0),
        (OrderKind.STOP_LOSS, "SELL", True, 1500.0),
        (OrderKind.EXIT, "SELL", False, 1000.0),
        ("exit", "SELL", False, 1000.0),
    ],
)
def test_sound_decisions_are_ok(kind: Any, side: str, filled: bool, position: float) -> None:
    assert check(side=side, kind=kind, entry_filled=filled, position_qty=position) == SafetyReason.OK


def test_numbers_of_every_kind_are_accepted() -> None:
    assert check(quantity=Decimal("1000"), price=Decimal("1.23456")) == SafetyReason.OK
    assert check(quantity=np.float32(2.5), price=np.float64(1.23456)) == SafetyReason.OK
    assert check(quantity=np.int64(3), price=Fraction(123456, 100000)) == SafetyReason.OK


def test_tick_multiples_tolerate_float_residue_only() -> None:
    assert check(price=0.3, tick_size=0.1) == SafetyReason.OK  # 0.3 / 0.1 = 2.9999999999999996
    assert check(price=0.1 + 0.2, tick_size=0.1) == SafetyReason.OK
    assert check(price=100.05, tick_size=0.05) == SafetyReason.OK
    assert check(price=100.07, tick_size=0.05) == SafetyReason.INVALID_PRICE
    assert check(price=123456789.0, tick_size=0.01) == SafetyReason.OK
    assert check(price=123456789.005, tick_size=0.01) == SafetyReason.INVALID_PRICE
    assert check(price=1e300, tick_size=1e-10) == SafetyReason.INVALID_PRICE


def test_a_full_close_is_not_blocked_by_rounding() -> None:
    assert check(side="SELL", quantity=0.1 + 0.2, price=1.0, position_qty=0.3) == SafetyReason.OK
    assert check(side="SELL", quantity=1000, position_qty=1000) == SafetyReason.OK
    assert check(side="SELL", quantity=1000.001, position_qty=1000) == SafetyReason.SELL_WITHOUT_POSITION


def test_checks_run_in_order_and_the_first_failure_is_the_answer() -> None:
    bad = {
        "symbol": "NOT_LISTED",
        "side": "HOLD",
        "quantity": math.nan,
        "price": math.nan,
        "kind": "TAKE_PROFIT",
    }
    expected = [
        SafetyReason.INVALID_SYMBOL,
        SafetyReason.INVALID_SIDE,
        SafetyReason.INVALID_QUANTITY,
        SafetyReason.INVALID_PRICE,
        SafetyReason.TP_SL_WITHOUT_FILL,
        SafetyReason.SELL_WITHOUT_POSITION,
    ]
    fixes: list[dict[str, Any]] = [
        {"symbol": "EURUSD"},
        {"side": "SELL"},
        {"quantity": 1},
        {"price": 1.0},
        {"entry_filled": True},
    ]
    for i, reason in enumerate(expected):
        assert check(**bad) == reason
        if i < len(fixes):
            bad.update(fixes[i])
    bad["position_qty"] = 1
    assert check(**bad) == SafetyReason.OK


def test_a_blocked_decision_logs_exactly_one_structured_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="montalaq")
    assert check(price=math.nan, correlation_id="abcd1234") == SafetyReason.INVALID_PRICE
    records = blocked(caplog)
    assert len(records) == 1
    (rec,) = records
    assert rec.levelno == logging.WARNING
    assert rec.__dict__["correlation_id"] == "abcd1234"
    assert rec.__dict__["symbol"] == "EURUSD"
    assert rec.__dict__["decision"] == "BLOCKED"
    assert rec.__dict__["reason_code"] == "INVALID_PRICE"
    assert "BLOCKED" in rec.getMessage()
    assert "INVALID_PRICE" in rec.getMessage()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"side": "SELL", "position_qty": 1000},
        {"side": "SELL", "kind": "TAKE_PROFIT", "entry_filled": True, "position_qty": 1000},
    ],
)
def test_an_ok_decision_logs_nothing(caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any]) -> None:
    caplog.set_level(logging.DEBUG, logger="montalaq")
    assert check(**kwargs) == SafetyReason.OK
    assert blocked(caplog) == []


@pytest.mark.parametrize("reason_kwargs", [{"symbol": "NOT_LISTED"}, {"side": "SELL"}, {"quantity": -1}])
def test_every_block_is_logged_once_with_its_code(
    caplog: pytest.LogCaptureFixture, reason_kwargs: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG, logger="montalaq")
    reason = check(**reason_kwargs)
    (rec,) = blocked(caplog)
    assert rec.__dict__["reason_code"] == reason.name
    assert rec.__dict__["symbol"] == reason_kwargs.get("symbol", "EURUSD")


def test_the_log_line_takes_the_current_correlation_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="montalaq")
    with correlation.correlation_scope("feedbeef"):
        check(symbol="NOT_LISTED")
    check(symbol=None)
    first, second = blocked(caplog)
    assert first.__dict__["correlation_id"] == "feedbeef"
    assert second.__dict__["correlation_id"] == "-"
    assert second.__dict__["symbol"] == "None"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tick_size": 0}, ValueError, "tick_size"),
        ({"tick_size": -0.01}, ValueError, "tick_size"),
        ({"tick_size": math.nan}, ValueError, "tick_size"),
        ({"tick_size": None}, TypeError, "tick_size"),
        ({"tick_size": "0.01"}, TypeError, "tick_size"),
        ({"allowed_symbols": None}, TypeError, "allowed_symbols"),
        ({"allowed_symbols": "EURUSD"}, TypeError, "allowed_symbols"),
        ({"allowed_symbols": {"EURUSD", 1}}, TypeError, "allowed_symbols"),
        ({"entry_filled": 1}, TypeError, "entry_filled"),
        ({"entry_filled": None}, TypeError, "entry_filled"),
        ({"position_qty": math.nan}, ValueError, "position_qty"),
        ({"position_qty": None}, TypeError, "position_qty"),
        ({"kind": "LIMIT"}, ValueError, "kind"),
        ({"kind": None}, ValueError, "kind"),
        ({"correlation_id": 5}, TypeError, "correlation_id"),
    ],
)
def test_a_bad_context_is_a_clear_error(
    caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="montalaq")
    with pytest.raises(error, match=match):
        check(**kwargs)
    assert blocked(caplog) == []


def test_allowed_symbols_take_any_collection() -> None:
    assert check(allowed_symbols=["EURUSD"]) == SafetyReason.OK
    assert check(allowed_symbols=frozenset({"EURUSD"})) == SafetyReason.OK
    assert check(allowed_symbols=(s for s in ["EURUSD"])) == SafetyReason.OK
    assert check(allowed_symbols=set()) == SafetyReason.INVALID_SYMBOL
