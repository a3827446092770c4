"""Native spdlog records reach Python logging under `montalaq.native`, only when asked."""

import json
import logging
from collections.abc import Iterator

import pytest

import montalaq
from montalaq._native import native_logging

MINUTE_NS = 60_000_000_000
T0 = 1_704_067_200 * 1_000_000_000


@pytest.fixture(autouse=True)
def _quiet_afterwards() -> Iterator[None]:
    yield
    montalaq.configure_logging(logging.WARNING)
    montalaq.drain_native_logs()


def test_debug_records_are_forwarded(caplog: pytest.LogCaptureFixture) -> None:
    montalaq.configure_logging(logging.DEBUG)
    montalaq.drain_native_logs()
    with caplog.at_level(logging.DEBUG, logger="montalaq.native"):
        engine = montalaq.MarketEngine()
        engine.on_trade("LOGSYM", T0, 1.0, 1.0)
        montalaq.drain_native_logs()
    messages = [r.getMessage() for r in caplog.records if r.name == "montalaq.native"]
    assert any("market_engine created" in m for m in messages)
    assert any("new symbol 'LOGSYM'" in m for m in messages)
    # The engine's records come from the core's "montalaq" logger. (Only this engine's:
    # a background thread of an earlier test in the same process may still log its own,
    # e.g. a monitoring service's "alert" records, into the shared native buffer.)
    mine = [r for r in caplog.records if r.name == "montalaq.native" and "LOGSYM" in r.getMessage()]
    assert mine
    assert {getattr(r, "native_logger", None) for r in mine} == {"montalaq"}  # a LogRecord extra


def test_warning_level_drops_debug_in_the_core() -> None:
    montalaq.configure_logging(logging.WARNING)
    montalaq.drain_native_logs()
    montalaq.MarketEngine().on_trade("QUIET", T0, 1.0, 1.0)
    assert native_logging.drain() == []


def test_unfilled_gap_warns_as_json(caplog: pytest.LogCaptureFixture) -> None:
    montalaq.configure_logging(logging.WARNING, json=True)
    engine = montalaq.MarketEngine(("1m",), fill_gaps=True, max_fill_bars=5)
    with caplog.at_level(logging.WARNING, logger="montalaq.native"):
        engine.on_trade("GAP", T0, 1.0, 1.0)
        engine.on_trade("GAP", T0 + 100 * MINUTE_NS, 1.0, 1.0)
        montalaq.drain_native_logs()
    assert engine.stats("GAP")["gaps_unfilled"] == 1
    payloads = [json.loads(r.getMessage()) for r in caplog.records if r.name == "montalaq.native"]
    assert any("left unfilled" in p["message"] and p["logger"] == "montalaq" for p in payloads)


def test_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        montalaq.configure_logging("LOUD")
    with pytest.raises(ValueError, match="interval_s"):
        montalaq.configure_logging(logging.INFO, interval_s=0)
