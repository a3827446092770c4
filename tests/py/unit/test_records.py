"""Analysis and Finding (docs/semantics.md, Agents; docs/semantics.md, Persistence): validation on
construction and the JSON shape."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from montalaq.records import Analysis, AnalysisStatus, Decision, Finding

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def analysis(**kw: Any) -> Analysis:
    base: dict[str, Any] = {"symbol": "SPY", "timeframe": "1m", "bar_ts": T0}
    base.update(kw)
    return Analysis(**base)


def finding(**kw: Any) -> Finding:
    base: dict[str, Any] = {"ts_utc": T0, "agent": "momentum", "symbol": "SPY", "score": 1.0}
    base.update(kw)
    return Finding(**base)


# ------------------------------------------------------------------------------ times


@pytest.mark.parametrize("field", ["bar_ts", "created_at", "updated_at"])
def test_analysis_rejects_a_naive_datetime_naming_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}: naive datetime"):
        analysis(**{field: datetime(2026, 1, 1)})


def test_finding_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="ts_utc: naive datetime"):
        finding(ts_utc=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        1_767_225_600_000_000_000,
        np.datetime64("2026-01-01T00:00:00", "ns"),
        pd.Timestamp("2025-12-31 19:00", tz="America/New_York"),
        datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["int_ns", "datetime64", "pandas_ny", "aware_plus_2h"],
)
def test_times_are_kept_as_aware_utc_datetimes(value: Any) -> None:
    bar_ts = analysis(bar_ts=value).bar_ts
    assert bar_ts == T0
    assert bar_ts.tzinfo is UTC


def test_nanoseconds_are_truncated_to_microseconds() -> None:
    a = analysis(bar_ts=1_767_225_600_123_456_789)
    assert a.bar_ts == T0 + timedelta(microseconds=123_456)


@pytest.mark.parametrize("value", [1.5e18, "2026-01-01T00:00:00Z", None])
def test_a_time_of_another_type_is_a_type_error_naming_the_field(value: Any) -> None:
    with pytest.raises(TypeError, match="bar_ts"):
        analysis(bar_ts=value)


# ------------------------------------------------------------------------------ scores


@pytest.mark.parametrize("field", ["rule_confidence_score", "ml_confidence", "composite_score"])
@pytest.mark.parametrize("value", [-0.001, 100.001, 1e9])
def test_confidence_scores_outside_0_to_100_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{field}: expected a number in \[0, 100\]"):
        analysis(**{field: value})


@pytest.mark.parametrize("field", ["rule_confidence_score", "ml_confidence", "composite_score"])
@pytest.mark.parametrize("value", [0, 100, 55.5])
def test_confidence_scores_inside_0_to_100_are_kept_as_floats(field: str, value: float) -> None:
    kept = getattr(analysis(**{field: value}), field)
    assert kept == value
    assert type(kept) is float


@pytest.mark.parametrize(
    "field",
    ["rule_confidence_score", "ml_confidence", "composite_score", "stop_loss", "take_profit", "close"],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_analysis_numbers_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field}: expected a finite number"):
        analysis(**{field: value})


@pytest.mark.parametrize("value", [True, "50", b"1", [50]])
def test_a_score_that_is_not_a_number_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="composite_score"):
        analysis(composite_score=value)


@pytest.mark.parametrize("value", [np.float32(42.5), np.int64(42), np.float64(42.5)])
def test_numpy_scalars_are_accepted_as_scores(value: Any) -> None:
    assert analysis(composite_score=value).composite_score == float(value)
    assert finding(score=value).score == float(value)


def test_prices_may_be_any_finite_number() -> None:
    a = analysis(stop_loss=-5.0, take_profit=1e12, close=0.0)
    assert (a.stop_loss, a.take_profit, a.close) == (-5.0, 1e12, 0.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_finding_score_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="score: expected a finite number"):
        finding(score=value)


def test_finding_score_is_required() -> None:
    with pytest.raises(TypeError, match="score"):
        finding(score=None)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_top_feature_is_rejected_naming_it(value: float) -> None:
    """Regression: top_features accepted NaN, which to_dict then served (docs/semantics.md, Time values in
    Python: never NaN)."""
    with pytest.raises(ValueError, match="top_features\\['rvol'\\]: expected a finite number"):
        analysis(top_features={"mom_bps": 1.0, "rvol": value})


def test_a_top_feature_that_is_not_a_number_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="top_features\\['rvol'\\]"):
        analysis(top_features={"rvol": "high"})


def test_top_features_are_kept_as_str_to_float() -> None:
    assert analysis(top_features={"mom_bps": 12, 5: np.float32(0.5)}).top_features == {
        "mom_bps": 12.0,
        "5": 0.5,
    }


# ------------------------------------------------------------------------------ status, decision, names


def test_status_and_decision_accept_their_values_as_strings() -> None:
    a = analysis(status="COMPLETE", final_decision="SELL")
    assert (a.status, a.final_decision) == (AnalysisStatus.COMPLETE, Decision.SELL)


def test_status_defaults_to_pending_without_a_decision() -> None:
    a = analysis()
    assert (a.status, a.final_decision) == (AnalysisStatus.PENDING, None)


def test_a_bad_status_names_the_field_and_the_accepted_values() -> None:
    with pytest.raises(
        ValueError, match=r"status: expected one of \['PENDING', 'RUNNING', 'COMPLETE', 'FAILED'\]"
    ):
        analysis(status="DONE")


@pytest.mark.parametrize("value", ["buy", "LONG", ""])
def test_a_bad_decision_names_the_field_and_the_accepted_values(value: str) -> None:
    with pytest.raises(ValueError, match=r"final_decision: expected one of \['BUY', 'SELL', 'HOLD'\]"):
        analysis(final_decision=value)


@pytest.mark.parametrize(
    ("given", "canonical"), [("60s", "1m"), ("1m", "1m"), ("120m", "2h"), ("1440m", "1d"), ("90s", "90s")]
)
def test_timeframe_is_canonicalised(given: str, canonical: str) -> None:
    assert analysis(timeframe=given).timeframe == canonical


@pytest.mark.parametrize("value", ["1x", "1M", "0m", " 1m", ""])
def test_a_bad_timeframe_is_a_value_error_naming_the_accepted_forms(value: str) -> None:
    with pytest.raises(ValueError, match="<n><unit>"):
        analysis(timeframe=value)


def test_a_timeframe_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="timeframe"):
        analysis(timeframe=60)


def test_symbol_is_stripped() -> None:
    assert analysis(symbol="  SPY ").symbol == "SPY"


@pytest.mark.parametrize("value", ["", "   ", "X" * 65, None])
def test_a_bad_symbol_is_rejected(value: Any) -> None:
    with pytest.raises(ValueError, match="symbol: expected a non-empty string"):
        analysis(symbol=value)


@pytest.mark.parametrize("value", ["", "A" * 65])
def test_a_bad_agent_is_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="agent: expected a non-empty string"):
        finding(agent=value)


def test_finding_label_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="label"):
        finding(label=3)


def test_finding_details_must_be_a_dict() -> None:
    with pytest.raises(TypeError, match="details"):
        finding(details=[("a", 1)])


# ------------------------------------------------------------------------------ to_dict


def test_analysis_to_dict_has_iso_z_times_and_none_for_undefined() -> None:
    a = analysis(bar_ts=T0 + timedelta(microseconds=123_456))
    assert a.to_dict() == {
        "symbol": "SPY",
        "timeframe": "1m",
        "bar_ts": "2026-01-01T00:00:00.123456Z",
        "status": "PENDING",
        "final_decision": None,
        "rule_confidence_score": None,
        "ml_confidence": None,
        "composite_score": None,
        "stop_loss": None,
        "take_profit": None,
        "close": None,
        "error_code": None,
        "error_message": None,
        "top_features": None,
        "correlation_id": None,
        "created_at": None,
        "updated_at": None,
    }


def test_analysis_to_dict_gives_enum_values_and_every_time_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = analysis(
        status=AnalysisStatus.COMPLETE,
        final_decision=Decision.BUY,
        composite_score=80,
        created_at=datetime(2026, 1, 1, 3, tzinfo=plus_two),
        updated_at=T0 + timedelta(hours=1),
    )
    d = a.to_dict()
    assert (d["status"], d["final_decision"], d["composite_score"]) == ("COMPLETE", "BUY", 80.0)
    assert (d["created_at"], d["updated_at"]) == ("2026-01-01T01:00:00Z", "2026-01-01T01:00:00Z")


def test_finding_to_dict_shape() -> None:
    f = finding(label="spike", details={"z": 3.5}, correlation_id="abcd1234", id=7)
    assert f.to_dict() == {
        "id": 7,
        "ts_utc": "2026-01-01T00:00:00Z",
        "agent": "momentum",
        "symbol": "SPY",
        "score": 1.0,
        "label": "spike",
        "details": {"z": 3.5},
        "correlation_id": "abcd1234",
    }


def test_to_dict_is_strict_json() -> None:
    a = analysis(status="COMPLETE", composite_score=70, top_features={"rvol": 1.25})
    f = finding(details={"bars": [1, 2]})
    for d in (a.to_dict(), f.to_dict()):
        assert json.loads(json.dumps(d, allow_nan=False)) == d
