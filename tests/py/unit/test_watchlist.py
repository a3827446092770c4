"""The watchlist YAML (pairs, timeframes, provider per pair, trade source): what a valid file
gives, and that every mistake is an error naming the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from montalaq.settings import Settings
from montalaq.watchlist import (
    SourceSpec,
    WatchlistError,
    load_watchlist,
    parse_watchlist,
    watchlist_from_settings,
)

VALID = """\
timeframes: [1m, 5m]
feed: {speed: 60, warmup_s: 1800}
pairs:
  - symbol: SPY
    provider: AllTick
    timeframes: [1m, 5m, 15m]
  - symbol: EURUSD
    provider: twelvedata
    source: {kind: simulated, seed: 7, start_price: 1.08, rate_per_s: 2, vol_bps: 1.5}
"""


def test_a_valid_watchlist_gives_its_pairs_providers_and_feed_clock() -> None:
    wl = parse_watchlist(VALID, source="w.yaml")
    assert wl.pairs() == [("SPY", "1m"), ("SPY", "5m"), ("SPY", "15m"), ("EURUSD", "1m"), ("EURUSD", "5m")]
    assert wl.symbols == ["SPY", "EURUSD"]
    assert wl.timeframes == ["1m", "5m", "15m"]
    assert (wl.provider_of("SPY"), wl.provider_of("EURUSD")) == ("AllTick", "TwelveData")
    assert (wl.speed, wl.warmup_s) == (60.0, 1800.0)
    assert wl.entry("EURUSD").source == SourceSpec(
        kind="simulated", seed=7, start_price=1.08, rate_per_s=2.0, vol_bps=1.5
    )


def test_defaults_are_spec_timeframes_real_time_and_the_auto_source() -> None:
    wl = parse_watchlist("pairs:\n  - {symbol: BTCUSDT, provider: AllTick}\n")
    assert wl.pairs() == [("BTCUSDT", "1m"), ("BTCUSDT", "5m"), ("BTCUSDT", "15m")]
    assert (wl.speed, wl.warmup_s) == (1.0, 0.0)
    assert wl.entries[0].source.kind == "auto"


def test_timeframes_are_stored_in_canonical_form() -> None:
    wl = parse_watchlist("pairs:\n  - {symbol: A, provider: AllTick, timeframes: [60s, 1h]}\n")
    assert wl.entries[0].timeframes == ("1m", "1h")


def test_source_shorthands_and_sample_names(tmp_path: Path) -> None:
    trades = tmp_path / "data" / "spy.csv"
    trades.parent.mkdir()
    trades.write_text("ts,price,size\n")
    (tmp_path / "w.yaml").write_text(
        "pairs:\n"
        "  - {symbol: SPY, provider: AllTick, source: sample}\n"
        "  - {symbol: X, provider: AllTick, source: {kind: sample, name: BTCUSDT, loop: false}}\n"
        "  - {symbol: R, provider: AllTick, source: {kind: replay, path: data/spy.csv, start_offset_s: 60}}\n"
        "  - {symbol: C, provider: TwelveData, source: {kind: custom, options: {url: wss://x}}}\n"
        "  - {symbol: N, provider: TwelveData, source: none}\n"
    )
    wl = load_watchlist(tmp_path / "w.yaml")
    src = {e.symbol: e.source for e in wl.entries}
    assert (src["SPY"].kind, src["SPY"].name) == ("sample", "spy")
    assert (src["X"].name, src["X"].loop) == ("btcusdt", False)
    assert (src["R"].path, src["R"].start_offset_s) == (trades, 60.0)  # relative to the file
    assert dict(src["C"].options) == {"url": "wss://x"}
    assert src["N"].kind == "none"
    assert wl.path == tmp_path / "w.yaml"


def test_the_digest_follows_the_content_not_the_formatting() -> None:
    a = parse_watchlist("pairs: [{symbol: A, provider: AllTick}]")
    b = parse_watchlist("pairs:\n  - symbol: A\n    provider: alltick\n")
    c = parse_watchlist("pairs: [{symbol: A, provider: TwelveData}]")
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "w.yaml: empty watchlist; expected a mapping with a 'pairs' list"),
        ("- a\n- b\n", "w.yaml: expected a mapping with a 'pairs' list, got a list"),
        ("symbols: []\n", "w.yaml: unknown key 'symbols'; accepted keys: version, timeframes, feed, pairs"),
        ("version: 2\npairs: []\n", "w.yaml: version: expected 1, got 2"),
        ("timeframes: [1m]\n", "w.yaml: pairs: required: a list of entries"),
        ("pairs: []\n", "w.yaml: pairs: expected a non-empty list of entries, got an empty list"),
        ("pairs: [SPY]\n", "w.yaml: pairs[0]: expected a mapping with symbol and provider, got str 'SPY'"),
        ("pairs: [{provider: AllTick}]\n", "w.yaml: pairs[0].symbol: required"),
        (
            "pairs: [{symbol: 'S P Y', provider: AllTick}]\n",
            "w.yaml: pairs[0].symbol: expected 1-64 characters without whitespace or '|', got 'S P Y'",
        ),
        ("pairs: [{symbol: 'A|B', provider: AllTick}]\n", "pairs[0].symbol: expected 1-64 characters"),
        (
            f"pairs: [{{symbol: {'X' * 65}, provider: AllTick}}]\n",
            "pairs[0].symbol: expected 1-64 characters",
        ),
        (
            "pairs: [{symbol: SPY}]\n",
            "w.yaml: pairs[0] (SPY).provider: required: one of AllTick, TwelveData, Binance, Replay or "
            "Simulated",
        ),
        (
            "pairs: [{symbol: SPY, provider: Polygon}]\n",
            "w.yaml: pairs[0] (SPY).provider: expected AllTick, TwelveData, Binance, Replay or Simulated, "
            "got 'Polygon'",
        ),
        (
            "pairs: [{symbol: SPY, provider: AllTick, timeframe: 1m}]\n",
            "w.yaml: pairs[0] (SPY): unknown key 'timeframe'; accepted keys: symbol, provider, "
            "timeframes, source",
        ),
        (
            "pairs: [{symbol: SPY, provider: AllTick, timeframes: [1m, 7x]}]\n",
            "w.yaml: pairs[0] (SPY).timeframes[1]: expected a timeframe <n><unit> with unit s, m, h or d",
        ),
        (
            "pairs: [{symbol: SPY, provider: AllTick, timeframes: [1m, 60s]}]\n",
            "w.yaml: pairs[0] (SPY).timeframes[1]: timeframe 1m is listed twice",
        ),
        (
            "pairs: [{symbol: SPY, provider: AllTick, timeframes: []}]\n",
            "w.yaml: pairs[0] (SPY).timeframes: expected a non-empty list such as [1m, 5m, 15m], got []",
        ),
        (
            "pairs:\n  - {symbol: A, provider: AllTick}\n  - {symbol: A, provider: TwelveData}\n",
            "w.yaml: pairs[1] (A).symbol: duplicate symbol: already listed in pairs[0]",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: websocket}]\n",
            "w.yaml: pairs[0] (A).source.kind: expected one of auto, sample, replay, simulated, "
            "custom, none, "
            "got 'websocket'",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: simulated, speed: 2}}]\n",
            "w.yaml: pairs[0] (A).source (simulated): unknown key 'speed'; accepted keys: kind, seed, "
            "start_price, rate_per_s, vol_bps",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: simulated, seed: -1}}]\n",
            "w.yaml: pairs[0] (A).source.seed: expected an integer >= 0, got -1",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: simulated, vol_bps: .nan}}]\n",
            "w.yaml: pairs[0] (A).source.vol_bps: expected a finite number >= 0, got nan",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: replay}}]\n",
            "w.yaml: pairs[0] (A).source.path: required: a trade file path, got None",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: sample}}]\n",
            "w.yaml: pairs[0] (A).source.name: expected a bundled sample (btcusdt, spy), got 'A'",
        ),
        (
            "pairs: [{symbol: A, provider: AllTick, source: {kind: sample, name: spy, loop: 1}}]\n",
            "w.yaml: pairs[0] (A).source.loop: expected true or false, got 1",
        ),
        (
            "feed: {speed: 0}\npairs: [{symbol: A, provider: AllTick}]\n",
            "w.yaml: feed.speed: expected a finite",
        ),
        ("feed: {pace: 2}\npairs: [{symbol: A, provider: AllTick}]\n", "w.yaml: feed: unknown key 'pace'"),
        (
            "feed: {warmup_s: -5}\npairs: [{symbol: A, provider: AllTick}]\n",
            "feed.warmup_s: expected a finite",
        ),
        ("pairs: [\n  {symbol: A\n", "w.yaml: not valid YAML at line 3, column 1"),
    ],
)
def test_every_mistake_names_the_file_the_entry_and_the_field(text: str, message: str) -> None:
    with pytest.raises(WatchlistError) as info:
        parse_watchlist(text, source="w.yaml")
    assert message in str(info.value)


def test_a_replay_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "pairs: [{symbol: A, provider: AllTick, source: {kind: replay, path: x.csv}}]"
    )
    with pytest.raises(WatchlistError, match=r"pairs\[0\] \(A\)\.source\.path: no such file: .*x\.csv"):
        load_watchlist(tmp_path / "w.yaml")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match=r"nope\.yaml: no such watchlist file"):
        load_watchlist(tmp_path / "nope.yaml")


def test_the_watchlist_comes_from_WATCHLIST_PATH(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(VALID)
    assert watchlist_from_settings(Settings.from_env({"WATCHLIST_PATH": str(path)})).symbols == [
        "SPY",
        "EURUSD",
    ]
    with pytest.raises(WatchlistError, match="WATCHLIST_PATH: required"):
        watchlist_from_settings(Settings.from_env({}))


def test_looking_up_an_unwatched_symbol_names_the_watched_ones() -> None:
    wl = parse_watchlist(VALID)
    with pytest.raises(
        ValueError, match=r"symbol: 'QQQ' is not in the watchlist; watched: \['SPY', 'EURUSD'\]"
    ):
        wl.entry("QQQ")


def test_a_bad_argument_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="text: expected YAML text or a mapping"):
        parse_watchlist(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path: expected a file path"):
        load_watchlist(42)  # type: ignore[arg-type]


def test_every_provider_montalaq_has_is_accepted_in_its_own_spelling() -> None:
    text = "pairs:\n" + "".join(
        f"  - {{symbol: S{i}, provider: {name}}}\n"
        for i, name in enumerate(["binance", "ALLTICK", "TwelveData", "replay", "Simulated"])
    )
    wl = parse_watchlist(text)
    assert [e.provider for e in wl.entries] == ["Binance", "AllTick", "TwelveData", "Replay", "Simulated"]


def test_a_calendar_per_entry_is_normalised_and_a_bad_one_names_the_field() -> None:
    wl = parse_watchlist(
        "pairs:\n  - {symbol: SPY, provider: AllTick, calendar: xnys}\n"
        "  - {symbol: BTCUSDT, provider: Binance}\n"
    )
    assert [e.calendar for e in wl.entries] == ["XNYS", "24/7"]
    plain = parse_watchlist("pairs:\n  - {symbol: SPY, provider: AllTick}\n")
    same = parse_watchlist("pairs:\n  - {symbol: SPY, provider: AllTick, calendar: 24/7}\n")
    assert plain.digest == same.digest  # a 24/7 calendar is the default, not a new watchlist
    assert (
        wl.digest
        != parse_watchlist(
            "pairs:\n  - {symbol: SPY, provider: AllTick}\n  - {symbol: BTCUSDT, provider: Binance}\n"
        ).digest
    )
    with pytest.raises(
        WatchlistError, match=r"w.yaml: pairs\[0\] \(SPY\)\.calendar: .*unknown market calendar 'XNYZ'"
    ):
        parse_watchlist("pairs:\n  - {symbol: SPY, provider: AllTick, calendar: XNYZ}\n", source="w.yaml")
