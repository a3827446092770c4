"""Freshness (docs/semantics.md, Health core): GREEN when age <= amber_after, AMBER when age <= red_after, RED
beyond and when nothing was ever received; defaults 1.5 tf / 3 tf, overridable per
timeframe; bad arguments raise ValueError/TypeError naming the argument (docs/semantics.md, Time values in
Python)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from montalaq import Colour, Freshness, parse_timeframe

SEC = 1_000_000_000
NOW = 1_723_161_600 * SEC  # 2024-08-09T00:00:00Z
GREEN, AMBER, RED = Colour.GREEN, Colour.AMBER, Colour.RED


@pytest.mark.parametrize("tf", ["1s", "1m", "5m", "15m", "1h", "1d", "90s"])
def test_default_thresholds_are_1_5_and_3_timeframes(tf: str) -> None:
    tf_ns = parse_timeframe(tf)
    f = Freshness()
    assert f.amber_mult == 1.5
    assert f.red_mult == 3.0
    assert f.thresholds(tf_ns) == (tf_ns * 3 // 2, tf_ns * 3)


@pytest.mark.parametrize("tf", ["1s", "1m", "5m", "15m", "1h"])
def test_boundaries_are_inclusive(tf: str) -> None:
    tf_ns = parse_timeframe(tf)
    amber_after, red_after = tf_ns * 3 // 2, tf_ns * 3
    f = Freshness()

    def at_age(age_ns: int) -> Colour:
        return f.colour(tf, NOW, NOW - age_ns)

    assert at_age(0) == GREEN
    assert at_age(amber_after - 1) == GREEN
    assert at_age(amber_after) == GREEN  # inclusive
    assert at_age(amber_after + 1) == AMBER
    assert at_age(red_after) == AMBER  # inclusive
    assert at_age(red_after + 1) == RED
    assert at_age(100 * tf_ns) == RED


def test_never_received_is_red() -> None:
    f = Freshness()
    assert f.colour("1m", NOW, None) == RED
    assert f.colour("1m", NOW, 0) == RED
    # the native form: last_tick_ns <= 0 means never
    assert f.classify(parse_timeframe("1m"), NOW, 0) == RED
    assert f.classify(parse_timeframe("1m"), NOW, -5) == RED


def test_tick_in_the_future_is_green() -> None:
    # clock skew: a trade stamped after "now" has age 0
    assert Freshness().colour("1m", NOW, NOW + 3600 * SEC) == GREEN


def test_custom_multipliers() -> None:
    f = Freshness(amber_mult=2.0, red_mult=4.0)
    assert f.thresholds(60 * SEC) == (120 * SEC, 240 * SEC)
    assert f.colour("1m", NOW, NOW - 120 * SEC) == GREEN
    assert f.colour("1m", NOW, NOW - 120 * SEC - 1) == AMBER
    assert f.colour("1m", NOW, NOW - 240 * SEC) == AMBER
    assert f.colour("1m", NOW, NOW - 240 * SEC - 1) == RED


def test_equal_multipliers_leave_no_amber_band() -> None:
    f = Freshness(amber_mult=2.0, red_mult=2.0)
    assert f.colour("1m", NOW, NOW - 120 * SEC) == GREEN
    assert f.colour("1m", NOW, NOW - 120 * SEC - 1) == RED


def test_per_timeframe_override_only_changes_that_timeframe() -> None:
    f = Freshness(overrides={"1m": (10, 20)})
    assert f.thresholds(60 * SEC) == (10 * SEC, 20 * SEC)
    assert f.thresholds(300 * SEC) == (450 * SEC, 900 * SEC)  # 5m keeps the default
    assert f.colour("1m", NOW, NOW - 10 * SEC) == GREEN
    assert f.colour("1m", NOW, NOW - 10 * SEC - 1) == AMBER
    assert f.colour("1m", NOW, NOW - 20 * SEC) == AMBER
    assert f.colour("1m", NOW, NOW - 20 * SEC - 1) == RED
    assert f.colour("5m", NOW, NOW - 20 * SEC - 1) == GREEN


def test_override_keys_are_timeframes_not_strings() -> None:
    # "60s" and "1m" are the same timeframe
    f = Freshness(overrides={"60s": (1.5, 2.5)})
    assert f.thresholds(60 * SEC) == (1_500_000_000, 2_500_000_000)
    assert f.colour("1m", NOW, NOW - 2 * SEC) == AMBER


def test_set_override_replaces_a_previous_one() -> None:
    f = Freshness(overrides={"1m": (10, 20)})
    f.set_override(60 * SEC, 30 * SEC, 40 * SEC)
    assert f.thresholds(60 * SEC) == (30 * SEC, 40 * SEC)


def test_time_values_accepted_as_datetimes() -> None:
    f = Freshness()
    now = datetime(2024, 8, 9, 12, 0, tzinfo=UTC)
    assert f.colour("1m", now, now - timedelta(seconds=90)) == GREEN
    assert f.colour("1m", now, now - timedelta(seconds=91)) == AMBER
    # an aware datetime in another zone is the same instant
    paris = timezone(timedelta(hours=2))
    assert f.colour("1m", now, (now - timedelta(seconds=181)).astimezone(paris)) == RED
    assert f.colour("1m", np.datetime64("2024-08-09T12:00:00"), np.datetime64("2024-08-09T11:59:00")) == GREEN


# --------------------------------------------------------------------------- bad arguments


def test_naive_datetime_rejected_naming_argument() -> None:
    f = Freshness()
    with pytest.raises(ValueError, match="now"):
        f.colour("1m", datetime(2024, 8, 9, 12, 0), None)
    with pytest.raises(ValueError, match="last_tick"):
        f.colour("1m", NOW, datetime(2024, 8, 9, 12, 0))


@pytest.mark.parametrize("tf", ["1x", "", "1M", "m1", "-1m", "0m"])
def test_bad_timeframe_is_value_error(tf: str) -> None:
    with pytest.raises(ValueError, match="timeframe"):
        Freshness().colour(tf, NOW, NOW)
    with pytest.raises(ValueError, match="timeframe"):
        Freshness(overrides={tf: (1, 2)})


def test_timeframe_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="timeframe"):
        Freshness().colour(60, NOW, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amber", "red"),
    [(0.0, 3.0), (-1.0, 3.0), (1.5, 0.0), (float("nan"), 3.0), (1.5, float("inf")), (4.0, 3.0)],
)
def test_bad_multipliers_raise_value_error_naming_them(amber: float, red: float) -> None:
    with pytest.raises(ValueError, match=r"amber_mult|red_mult"):
        Freshness(amber, red)


@pytest.mark.parametrize(
    ("override", "exc", "name"),
    [
        ((-1, 5), ValueError, "amber_after_s"),
        ((0, 5), ValueError, "amber_after_s"),
        ((1, -5), ValueError, "red_after_s"),
        (("a", 2), TypeError, "amber_after_s"),
        ((1, None), TypeError, "red_after_s"),
        ((float("nan"), 2), ValueError, "amber_after_s"),
        ((True, 2), TypeError, "amber_after_s"),
    ],
)
def test_bad_override_values_name_the_argument(override: tuple[object, object], exc: type, name: str) -> None:
    with pytest.raises(exc, match=name):
        Freshness(overrides={"1m": override})  # type: ignore[dict-item]


def test_override_amber_after_red_rejected() -> None:
    with pytest.raises(ValueError, match="override"):
        Freshness(overrides={"1m": (100, 50)})
    f = Freshness()
    with pytest.raises(ValueError, match="override"):
        f.set_override(60 * SEC, 0, 10)
    assert f.thresholds(60 * SEC) == (90 * SEC, 180 * SEC)  # unchanged


# --------------------------------------------------------------------------- bugs pinned


@pytest.mark.parametrize("bad", ["x", None, "2.0", True])
def test_bug_freshness_multiplier_type_not_checked_nor_named(bad: object) -> None:
    """docs/semantics.md, Time values in Python: a bad argument raises TypeError/ValueError naming it.
    Freshness passes the
    multipliers through float(), so "x" gives "could not convert string to float" and None
    gives "float() argument must be ...", neither naming amber_mult; "2.0" and True are
    silently accepted as 2.0 and 1.0."""
    with pytest.raises((TypeError, ValueError), match="amber_mult"):
        Freshness(amber_mult=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, (1, 2, 3)])
def test_bug_freshness_override_shape_not_named(bad: object) -> None:
    """overrides={"1m": 5} raises "cannot unpack non-iterable int object", which names
    neither ``overrides`` nor the timeframe (docs/semantics.md, Time values in Python)."""
    with pytest.raises((TypeError, ValueError), match="overrides"):
        Freshness(overrides={"1m": bad})  # type: ignore[dict-item]


def test_bug_freshness_huge_multiplier_overflows_to_red() -> None:
    """amber_mult/red_mult are only checked finite and > 0; tf * mult beyond int64 is cast
    with llround, which yields INT64_MIN on x86. Repro: Freshness(1.5, 1e9) (a "never RED"
    setting) on "1d": red_after = INT64_MIN, so a 2-day-old trade is RED instead of AMBER.
    Expected: a ValueError at construction or saturated thresholds."""
    try:
        f = Freshness(amber_mult=1.5, red_mult=1e9)
    except ValueError:
        return  # rejecting the setting is an acceptable fix
    day = 86_400 * SEC
    amber_after, red_after = f.thresholds(day)
    assert amber_after == day * 3 // 2
    assert red_after > amber_after
    assert f.colour("1d", NOW, NOW - 2 * day) == AMBER
