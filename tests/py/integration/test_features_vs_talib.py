"""Features (docs/semantics.md, Market core) on real bars vs TA-Lib and a plain pandas reference, and ATR vs
the
published Achelis/Tulip vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from numpy.testing import assert_allclose, assert_array_equal

import montalaq
from mtq_support import (
    BINANCE_SPOT,
    SPY_FILES,
    TARDIS,
    XRPETH,
    assert_nan_positions_equal,
    reference_features,
)

# (file, timeframe, fill_gaps). xrpeth 1m with fill_gaps has 1,091 zero-volume flat bars
# (runs of up to 8); binance spot 1m has only 6 bars (shorter than every default window).
BAR_SETS = [
    (XRPETH, "1m", False),
    (XRPETH, "1m", True),
    (XRPETH, "5m", False),
    (XRPETH, "5m", True),
    (TARDIS, "1m", False),
    (TARDIS, "5m", False),
    (BINANCE_SPOT, "1m", False),
    (SPY_FILES[0], "1m", False),
    (SPY_FILES[3], "5m", True),
]
BAR_IDS = [f"{rel.split('/')[0]}-{tf}{'-filled' if fill else ''}" for rel, tf, fill in BAR_SETS]

# Feature parameters: the defaults, and small windows that see all-zero volume windows in
# the gap-filled series (so "undefined when the volume / the mean is 0" is exercised).
PARAMS = [
    {"mom_k": 1, "vwap_n": 20, "rvol_n": 20},
    {"mom_k": 5, "vwap_n": 3, "rvol_n": 5},
    {"mom_k": 2, "vwap_n": 1, "rvol_n": 1},
]


@pytest.fixture(scope="module")
def bar_sets(load_trades: Callable[[str], montalaq.Trades]) -> dict[str, montalaq.Bars]:
    out = {}
    for (rel, tf, fill), name in zip(BAR_SETS, BAR_IDS, strict=True):
        t = load_trades(rel)
        out[name] = montalaq.build_bars(t.ts_ns, t.price, t.size, tf, side=t.side, fill_gaps=fill)
    return out


def test_the_gap_filled_sets_really_hold_zero_volume_windows(bar_sets: dict[str, montalaq.Bars]) -> None:
    bars = bar_sets["binance_xrpeth_2019-10-11-1m-filled"]
    empty = bars.volume == 0
    assert int(empty.sum()) == 1_091
    # at least one run of >= 5 consecutive empty bars (rvol_n=5 then has a zero mean)
    runs = np.convolve(empty.astype(int), np.ones(5, int), mode="valid")
    assert int(runs.max()) == 5


@pytest.mark.parametrize("n", [1, 5, 14])
@pytest.mark.parametrize("name", BAR_IDS)
def test_atr_equals_talib(name: str, n: int, bar_sets: dict[str, montalaq.Bars]) -> None:
    bars = bar_sets[name]
    got = montalaq.compute_features(bars, atr_n=n).atr
    want = talib.ATR(bars.high, bars.low, bars.close, timeperiod=n)
    assert got.shape == want.shape == (len(bars),)
    assert_nan_positions_equal(got, want, f"{name} atr_n={n}")
    ok = ~np.isnan(want)
    assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0)
    # Documented: undefined before index n, defined from n on.
    assert np.isnan(got[: min(n, len(bars))]).all()
    assert not np.isnan(got[n:]).any()


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "k{mom_k}-v{vwap_n}-r{rvol_n}".format(**p))
@pytest.mark.parametrize("name", BAR_IDS)
def test_mom_vwap_rvol_equal_pandas_reference(
    name: str, params: dict[str, int], bar_sets: dict[str, montalaq.Bars]
) -> None:
    bars = bar_sets[name]
    got = montalaq.compute_features(bars, **params)
    ref = reference_features(bars.high, bars.low, bars.close, bars.volume, bars.vwap, **params)
    for col in ("mom_bps", "px_vs_vwap_bps", "rvol"):
        g = getattr(got, col)
        w = ref[col].to_numpy()
        assert_nan_positions_equal(g, w, f"{name} {col}")
        ok = ~np.isnan(w)
        # bps values sit near 0, so a relative bound alone would be meaningless there; the
        # absolute bound is far below a single rounding of the price ratio (1e4 * 2e-16).
        atol = 0.0 if col == "rvol" else 1e-8
        assert_allclose(g[ok], w[ok], rtol=1e-9, atol=atol, err_msg=f"{name} {col}")
    assert_array_equal(got.start_ns, bars.start_ns)
    assert got.timeframe == bars.timeframe


def test_reference_agrees_with_pandas_rolling(bar_sets: dict[str, montalaq.Bars]) -> None:
    """The reference sums each window from scratch; it is the same definition as pandas'
    rolling windows (min_periods=1 for VWAP_N, shift(1) + min_periods=N for rvol)."""
    import pandas as pd

    bars = bar_sets["binance_xrpeth_2019-10-11-5m"]
    ref = reference_features(bars.high, bars.low, bars.close, bars.volume, bars.vwap)
    c, v = pd.Series(bars.close), pd.Series(bars.volume)
    pv = pd.Series(bars.vwap * bars.volume)
    px = (c / (pv.rolling(20, min_periods=1).sum() / v.rolling(20, min_periods=1).sum()) - 1) * 1e4
    rvol = v / v.shift(1).rolling(20, min_periods=20).mean()
    assert_allclose(ref["px_vs_vwap_bps"], px, rtol=1e-7, atol=1e-6)
    assert_allclose(ref["rvol"], rvol, rtol=1e-9, equal_nan=True)
    assert ref["rvol"].isna().sum() == 20


def test_undefined_windows_on_gap_filled_bars_are_nan(bar_sets: dict[str, montalaq.Bars]) -> None:
    bars = bar_sets["binance_xrpeth_2019-10-11-1m-filled"]
    f = montalaq.compute_features(bars, vwap_n=3, rvol_n=5)
    empty = bars.volume == 0
    # px_vs_vwap is NaN exactly where the last 3 bars are all empty
    window3_empty = np.r_[False, False, np.convolve(empty.astype(int), np.ones(3, int), mode="valid") == 3]
    assert_array_equal(np.isnan(f.px_vs_vwap_bps), window3_empty)
    assert window3_empty.any()
    # rvol is NaN for the first 5 bars and where the 5 previous bars are all empty
    prev5_empty = np.r_[
        np.zeros(5, bool), (np.convolve(empty.astype(int), np.ones(5, int), mode="valid") == 5)[:-1]
    ]
    expect_nan = prev5_empty.copy()
    expect_nan[:5] = True
    assert_array_equal(np.isnan(f.rvol), expect_nan)
    assert prev5_empty.any()
    # a flat gap bar has momentum 0 against the bar before it
    idx = np.flatnonzero(empty)
    assert_array_equal(f.mom_bps[idx], 0.0)
    # and every value that leaves the package is finite or NaN, never inf
    for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
        assert not np.isinf(getattr(f, col)).any()


def test_compute_features_accepts_a_dataframe_and_a_mapping(bar_sets: dict[str, montalaq.Bars]) -> None:
    bars = bar_sets["tardis_binance_futures_btcusdt_2020-02-22-1m"]
    direct = montalaq.compute_features(bars)
    from_frame = montalaq.compute_features(bars.to_pandas())
    from_map = montalaq.compute_features(bars.columns())
    for other in (from_frame, from_map):
        assert_array_equal(other.start_ns, bars.start_ns)
        for col in ("atr", "mom_bps", "px_vs_vwap_bps", "rvol"):
            assert_array_equal(getattr(other, col), getattr(direct, col))
    frame = direct.to_pandas()
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert list(frame.columns) == ["atr", "mom_bps", "px_vs_vwap_bps", "rvol"]


# --------------------------------------------------------------------------- Tulip / Achelis


def read_tulip_block(path: Path, header: str) -> list[np.ndarray]:
    """The ``{...}`` arrays following the line ``header`` in a Tulip test file."""
    lines = path.read_text().splitlines()
    try:
        i = lines.index(header)
    except ValueError:
        pytest.fail(f"no block '{header}' in {path}")
    arrays = []
    for raw_line in lines[i + 1 :]:
        line = raw_line.strip()
        if line.startswith("#"):
            continue
        if not line.startswith("{"):
            break
        arrays.append(np.array([float(x) for x in line.strip("{}").split(",")], dtype=np.float64))
    return arrays


def features_of(high: np.ndarray, low: np.ndarray, close: np.ndarray, atr_n: int) -> np.ndarray:
    ones = np.ones_like(close)
    return montalaq.compute_features(
        {"high": high, "low": low, "close": close, "volume": ones, "vwap": close}, atr_n=atr_n
    ).atr


@pytest.fixture(scope="module")
def tulip_dir(data_dir: Path) -> Path:
    return data_dir / "indicator_vectors_tulip"


def test_true_range_equals_achelis_from_the_second_bar(tulip_dir: Path) -> None:
    high, low, close, tr = read_tulip_block(tulip_dir / "atoz.txt", "tr")
    assert len(high) == len(tr) == 20
    # Tulip's TR_0 is H_0 - L_0 (no previous close). Our TR starts at bar 1, so bar 0 is
    # not comparable. With atr_n=1 Wilder's ATR is TR itself: ATR_i = TR_i for i >= 1.
    assert tr[0] == pytest.approx(high[0] - low[0], abs=1e-12)
    got = features_of(high, low, close, atr_n=1)
    assert np.isnan(got[0])
    # Book values are printed to 4 decimals: allow half a unit in the last place.
    assert_allclose(got[1:], tr[1:], rtol=0, atol=0.5e-4 + 1e-12)


@pytest.mark.parametrize(
    ("file", "header", "n", "printed_decimals"),
    [
        ("atoz.txt", "atr 4", 4, 4),  # Achelis, page 70
        ("untest.txt", "atr 5", 5, 3),  # Tulip's own regression output
    ],
)
def test_atr_recursion_equals_tulip_from_a_common_seed(
    tulip_dir: Path, file: str, header: str, n: int, printed_decimals: int
) -> None:
    """Tulip/Achelis seed ATR at index n-1 with mean(TR_0..TR_{n-1}), TR_0 = H_0 - L_0;
    TA-Lib and montalaq seed at index n with mean(TR_1..TR_n). The two differ by the seed only:
    both then apply Wilder's ATR_i = (ATR_{i-1}(n-1) + TR_i)/n. To compare the recursion
    from a common seed, put one extra flat bar in front (H=L=C=C_0). montalaq's TR of the
    original bar 0 is then max(H_0-L_0, |H_0-C_0|, |L_0-C_0|) = H_0-L_0, which is exactly
    Tulip's TR_0 (C_0 lies within [L_0, H_0]), so montalaq's first ATR equals Tulip's
    first ATR and every later value must follow."""
    high, low, close, expected = read_tulip_block(tulip_dir / file, header)
    assert len(expected) == len(close) - (n - 1)
    assert low[0] <= close[0] <= high[0]
    pad = close[:1]
    got = features_of(np.r_[pad, high], np.r_[pad, low], np.r_[pad, close], atr_n=n)
    assert np.isnan(got[:n]).all()
    assert_allclose(got[n:], expected, rtol=0, atol=0.5 * 10.0**-printed_decimals + 1e-12)


def test_atr_seed_differs_from_tulip_as_the_conventions_say(tulip_dir: Path) -> None:
    high, low, close, expected = read_tulip_block(tulip_dir / "atoz.txt", "atr 4")
    _, _, _, tr = read_tulip_block(tulip_dir / "atoz.txt", "tr")
    got = features_of(high, low, close, atr_n=4)
    # No ATR at Tulip's first index (3); the first one, at index 4, is mean(TR_1..TR_4)...
    assert np.isnan(got[:4]).all()
    assert got[4] == pytest.approx(tr[1:5].mean(), abs=1e-4)
    # ...and then Wilder's recursion on it, which is TA-Lib's ATR.
    assert_allclose(got, talib.ATR(high, low, close, timeperiod=4), rtol=1e-12, atol=0, equal_nan=True)
    # Tulip's index-3 value is the mean including TR_0 = H_0 - L_0.
    assert expected[0] == pytest.approx(tr[0:4].mean(), abs=1e-4)
