"""The shared value checks (montalaq._validate): one rule, one wording, everywhere."""

import math

import numpy as np
import pytest

from montalaq._validate import finite_or_none, json_safe, positive


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (2.5, 2.5),
        (np.float32(0.5), 0.5),
        (np.int64(3), 3.0),
        (None, None),
        (True, None),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        ("1.5", None),
        (b"1", None),
        (object(), None),
    ],
)
def test_finite_or_none(value: object, expected: float | None) -> None:
    got = finite_or_none(value)
    assert got == expected
    assert got is None or type(got) is float


def test_json_safe_replaces_non_finite_floats_at_any_depth() -> None:
    doc = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], 3: (2, "x")}
    assert json_safe(doc) == {"a": None, "b": [1.0, None, {"c": None}], "3": [2, "x"]}


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "5", None, True])
def test_positive_names_the_value_and_the_expectation(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^TIMEOUT: expected a finite number of seconds > 0, got "):
        positive("TIMEOUT", bad, what="number of seconds")


def test_positive_returns_a_float() -> None:
    assert positive("X", 2) == 2.0
