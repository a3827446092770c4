"""DataFrames in and out (issue 17): ``to_polars()`` beside every ``to_pandas()`` with the
same columns, dtypes and NaNs, and ``read_trades`` of a pandas or polars DataFrame equal to
reading the same trades from a file (docs/semantics.md, "Reading trade files")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import montalaq as mq


@pytest.fixture(scope="module")
def spy_5m() -> tuple[mq.Bars, mq.Features]:
    t = mq.read_trades(mq.sample_path("spy"))
    bars = mq.build_bars(t.ts_ns, t.price, t.size, "5m")
    return bars, mq.compute_features(bars, atr_n=14)


@pytest.fixture(scope="module")
def btc_csv() -> pd.DataFrame:
    return pd.read_csv(mq.sample_path("btcusdt"))


def assert_same_trades(got: mq.Trades, want: mq.Trades) -> None:
    np.testing.assert_array_equal(got.ts_ns, want.ts_ns)
    np.testing.assert_array_equal(got.price, want.price)
    np.testing.assert_array_equal(got.size, want.size)
    for name in ("side", "trade_id"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- to_polars


def _same_as_pandas(frame: pl.DataFrame, pandas: pd.DataFrame) -> None:
    """The polars frame holds the pandas frame's columns (its index as ``start``) with the
    same dtypes and values, NaN where pandas has NaN."""
    assert frame.height == len(pandas)
    assert isinstance(pandas.index, pd.DatetimeIndex)
    assert frame.schema["start"] == pl.Datetime("ns", "UTC")
    assert frame["start"].dt.epoch("ns").to_list() == pandas.index.asi8.tolist()
    assert frame["start_ns"].to_numpy().tolist() == pandas.index.asi8.tolist()
    for col in pandas.columns:
        assert frame[col].to_numpy().dtype == pandas[col].to_numpy().dtype, col
        np.testing.assert_array_equal(frame[col].to_numpy(), pandas[col].to_numpy(), err_msg=col)
    assert set(frame.columns) == {*pandas.columns, "start", "start_ns"}


def test_bars_to_polars_has_the_columns_and_dtypes_of_to_pandas(spy_5m: tuple[mq.Bars, mq.Features]) -> None:
    bars, _ = spy_5m
    _same_as_pandas(bars.to_polars(), bars.to_pandas())


def test_features_to_polars_has_the_columns_dtypes_and_nans_of_to_pandas(
    spy_5m: tuple[mq.Bars, mq.Features],
) -> None:
    _, feats = spy_5m
    frame = feats.to_polars()
    _same_as_pandas(frame, feats.to_pandas())
    assert frame["atr"].is_nan().sum() == 14  # undefined while ATR(14) warms up: NaN, as in pandas
    assert frame["atr"].null_count() == 0


def test_bars_and_features_polars_frames_join_on_their_start(spy_5m: tuple[mq.Bars, mq.Features]) -> None:
    bars, feats = spy_5m
    joined = bars.to_polars().join(feats.to_polars(), on=["start_ns", "start"])
    assert joined.height == len(bars)
    np.testing.assert_array_equal(joined["atr"].to_numpy(), feats.atr)


# ---------------------------------------------------------------- read_trades of a DataFrame


def test_a_pandas_frame_reads_like_its_csv_file(btc_csv: pd.DataFrame) -> None:
    labels = list(btc_csv.columns)
    got = mq.read_trades(btc_csv, symbol="BTCUSDT")
    assert_same_trades(got, mq.read_trades(mq.sample_path("btcusdt")))
    assert got.symbol == "BTCUSDT"
    assert got.columns["ts"] == "trade_time_ms"
    assert got.columns["side"] == "is_buyer_maker"
    assert list(btc_csv.columns) == labels  # the caller's frame is left as it was


def test_a_polars_frame_and_a_lazy_frame_read_like_the_pandas_frame(btc_csv: pd.DataFrame) -> None:
    frame = pl.DataFrame({c: btc_csv[c].to_numpy() for c in btc_csv.columns})
    want = mq.read_trades(btc_csv)
    assert_same_trades(mq.read_trades(frame), want)
    assert_same_trades(mq.read_trades(frame.lazy()), want)
    assert mq.read_trades(frame).symbol == "UNKNOWN"  # no symbol column, no file name


def test_zoned_datetime_columns_are_exact_in_pandas_and_polars() -> None:
    ts_ns = np.array([1_723_161_601_437_123_456, 1_723_161_601_498_000_001], dtype=np.int64)
    zoned = pd.to_datetime(ts_ns, utc=True).tz_convert("America/New_York")
    pandas_frame = pd.DataFrame({"timestamp": zoned, "price": [1.5, 2.5], "qty": [1.0, 2.0]})
    polars_frame = pl.DataFrame({"timestamp": pl.Series(ts_ns).cast(pl.Datetime("ns", "Asia/Tokyo")),
                                 "price": [1.5, 2.5], "qty": [1.0, 2.0]})  # fmt: skip
    for frame in (pandas_frame, polars_frame):
        got = mq.read_trades(frame, symbol="X")
        np.testing.assert_array_equal(got.ts_ns, ts_ns)
        assert got.columns["ts_unit"] == "datetime"


def test_naive_datetimes_need_tz_like_text_times() -> None:
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2024-08-09 00:00:01", "2024-08-09 00:00:02"]),
            "px": [1.0, 2.0],
            "size": [1, 1],
        }
    )
    with pytest.raises(ValueError, match=r"column 'time' carry no time zone; pass tz='UTC'"):
        mq.read_trades(frame)
    got = mq.read_trades(frame, tz="Europe/Berlin")
    assert got.ts_ns[0] == pd.Timestamp("2024-08-08 22:00:01", tz="UTC").value


def test_a_datetime_index_stands_for_the_time_column(btc_csv: pd.DataFrame) -> None:
    indexed = btc_csv.assign(ts=pd.to_datetime(btc_csv["trade_time_ms"], unit="ms", utc=True)).set_index(
        "ts"
    )[["price", "quantity"]]
    got = mq.read_trades(indexed)
    np.testing.assert_array_equal(got.ts_ns, mq.read_trades(btc_csv).ts_ns)
    named = btc_csv.set_index("trade_time_ms")[["price", "quantity"]]  # an index named like a time column
    np.testing.assert_array_equal(mq.read_trades(named).ts_ns, got.ts_ns)


def test_missing_columns_are_named_with_the_columns_found() -> None:
    frame = pd.DataFrame({"when_ms": [1], "price": [1.0], "lots": [1.0]})
    with pytest.raises(ValueError, match="cannot find") as info:
        mq.read_trades(frame)
    msg = str(info.value)
    assert "cannot find the trade columns in the DataFrame: no time and size column." in msg
    assert "Columns found: ['when_ms', 'price', 'lots']" in msg
    assert "size ['size', 'qty'" in msg  # the accepted names


def test_anything_else_is_a_type_error_naming_what_was_given() -> None:
    with pytest.raises(
        TypeError, match=r"expected a file path or a pandas/polars DataFrame, got builtins.list"
    ):
        mq.read_trades([1, 2, 3])
