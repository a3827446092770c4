"""``montalaq bench``: the built-in benchmarks of an installed montalaq on the bundled sample
(docs/operations.md, "montalaq bench"), each next to the peer a user would otherwise pick
when that peer is installed -- a line says so when it is not. Figures, not verdicts: the
repository's benchmarks/ measure the budgets on the full data; this answers "how fast is
this install on this machine" in a few seconds.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from montalaq.shapes import BenchResultDoc

_NS = 1_000_000_000


@dataclass
class Result:
    """One measurement: what was timed, montalaq's figure, the peer's (None when the peer is
    missing or has no equivalent), and the ratio peer time / montalaq time."""

    name: str
    unit: str
    montalaq: float
    peer: str | None = None
    peer_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer_value is None or not self.montalaq:
            return None
        # Rates: bigger is better; times: smaller is better. Either way "x times faster".
        return (
            self.montalaq / self.peer_value if self.unit.endswith("/s") else self.peer_value / self.montalaq
        )

    def to_dict(self) -> BenchResultDoc:
        return {
            "name": self.name,
            "unit": self.unit,
            "montalaq": self.montalaq,
            "peer": self.peer,
            "peer_value": self.peer_value,
            "ratio": self.ratio,
            "note": self.note,
        }


def _best(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def bench_bars(repeats: int) -> list[Result]:
    import pandas as pd

    import montalaq as mq

    t = mq.read_trades(mq.sample_path("spy"))
    n = len(t.ts_ns)
    ours = _best(lambda: mq.build_bars(t.ts_ns, t.price, t.size, "1m"), repeats)
    df = pd.DataFrame({"price": t.price, "size": t.size}, index=pd.to_datetime(t.ts_ns, utc=True))
    peer = _best(
        lambda: df.resample("1min").agg({"price": ["first", "max", "min", "last"], "size": "sum"}), repeats
    )
    out = [Result("1m bars from trades", "trades/s", n / ours, "pandas resample", n / peer)]
    if _have("polars"):
        import polars as pl

        frame = pl.DataFrame(
            {"ts": pl.Series(t.ts_ns).cast(pl.Datetime("ns")), "price": t.price, "size": t.size}
        )

        def polars_bars() -> Any:
            return frame.group_by_dynamic("ts", every="1m").agg(
                pl.col("price").first().alias("open"),
                pl.col("price").max().alias("high"),
                pl.col("price").min().alias("low"),
                pl.col("price").last().alias("close"),
                pl.col("size").sum().alias("volume"),
            )

        out.append(
            Result(
                "1m bars from trades",
                "trades/s",
                n / ours,
                "polars group_by_dynamic",
                n / _best(polars_bars, repeats),
            )
        )
    else:
        out.append(Result("1m bars from trades", "trades/s", n / ours, note="polars not installed: skipped"))
    return out


def bench_stream(repeats: int) -> list[Result]:
    import montalaq as mq

    t = mq.read_trades(mq.sample_path("spy"))
    n = len(t.ts_ns)

    def run() -> None:
        e = mq.MarketEngine(("1m", "5m", "15m"))
        for i in range(0, n, 10_000):
            e.on_trades("SPY", t.ts_ns[i : i + 10_000], t.price[i : i + 10_000], t.size[i : i + 10_000])

    ours = _best(run, repeats)
    return [Result("streaming, 3 timeframes + features (chunks of 10k)", "ns/trade", ours / n * _NS)]


def bench_board(repeats: int, pairs: int) -> list[Result]:
    import montalaq as mq

    board = mq.EscalationBoard()
    syms = [f"S{i}" for i in range(pairs // 2)]
    board.add_pairs(syms, ["1m", "5m"])
    now = 1_700_000_000 * _NS
    rng = np.random.default_rng(7)
    ticks = now - rng.integers(0, 400, len(board)).astype(np.int64) * _NS
    board.evaluate(now, last_tick_ns=ticks)
    k = [0]

    def cycle() -> None:
        k[0] += 1
        board.evaluate(now + k[0] * 60 * _NS, last_tick_ns=ticks + k[0] * 60 * _NS)

    return [Result(f"escalation cycle, {len(board):,} pairs", "ms", _best(cycle, repeats) * 1e3)]


def bench_guards(repeats: int, n: int) -> list[Result]:
    import montalaq as mq

    keys = [f"{i:064x}" for i in range(n)]
    cache = mq.DedupeCache(ttl_s=900)

    def dedupe() -> None:
        for key in keys:
            cache.check_and_record(key, 1_000_000_000)

    out = [Result("dedupe check_and_record (Python call)", "calls/s", n / _best(dedupe, repeats))]
    breaker = mq.CircuitBreaker("bench")

    def ours() -> None:
        for _ in range(n):
            if breaker.allow():
                breaker.record_success()

    ours_s = _best(ours, repeats)
    if _have("pybreaker"):
        import pybreaker

        pb = pybreaker.CircuitBreaker()
        fn = pb(lambda: None)

        def theirs() -> None:
            for _ in range(n):
                fn()

        out.append(
            Result("breaker allow + record", "calls/s", n / ours_s, "pybreaker", n / _best(theirs, repeats))
        )
    else:
        out.append(
            Result("breaker allow + record", "calls/s", n / ours_s, note="pybreaker not installed: skipped")
        )
    limiter = mq.RateLimiter(limit=60, window_s=60)

    def ours_rl() -> None:
        for _ in range(n):
            limiter.try_acquire("slack")

    ours_rl_s = _best(ours_rl, repeats)
    if _have("limits"):
        from limits import RateLimitItemPerMinute, storage, strategies

        lim = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        item = RateLimitItemPerMinute(60)

        def theirs_rl() -> None:
            for _ in range(n):
                lim.hit(item, "slack")

        out.append(
            Result(
                "rate limiter, 60/min",
                "calls/s",
                n / ours_rl_s,
                "limits (memory)",
                n / _best(theirs_rl, repeats),
            )
        )
    else:
        out.append(
            Result("rate limiter, 60/min", "calls/s", n / ours_rl_s, note="limits not installed: skipped")
        )
    return out


def bench_feed(repeats: int) -> list[Result]:
    """Binance trade frames (built from the bundled BTCUSDT sample) through the client's
    native parser into an engine, next to a bare json.loads loop over the same frames."""
    import montalaq as mq
    from montalaq.providers import BinanceClient

    t = mq.read_trades(mq.sample_path("btcusdt"))
    frames = [
        json.dumps(
            {
                "stream": "btcusdt@trade",
                "data": {
                    "e": "trade",
                    "E": int(ts // 1_000_000),
                    "s": "BTCUSDT",
                    "t": i,
                    "p": f"{px:.2f}",
                    "q": f"{sz:.8f}",
                    "T": int(ts // 1_000_000),
                    "m": i % 2 == 0,
                    "M": True,
                },
            },
            separators=(",", ":"),
        )
        for i, (ts, px, sz) in enumerate(
            zip(t.ts_ns.tolist(), t.price.tolist(), t.size.tolist(), strict=True)
        )
    ]
    n = len(frames)

    def ours() -> None:
        client = BinanceClient(["BTCUSDT"], ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
        engine = mq.MarketEngine(("1m", "5m", "15m"), symbols=["BTCUSDT"])
        for k, f in enumerate(frames, 1):
            client.on_frame(f)
            if k % 1000 == 0 or k == n:
                for b in client.drain():
                    if isinstance(b, mq.feeds.TradeBatch):
                        engine.on_trades(b.symbol, b.ts_ns, b.price, b.size, b.side, b.trade_id)

    def theirs() -> None:
        for f in frames:
            json.loads(f)

    return [
        Result(
            "Binance trade frames -> engine",
            "msgs/s",
            n / _best(ours, repeats),
            "json.loads only",
            n / _best(theirs, repeats),
        )
    ]


def run(quick: bool = False) -> list[Result]:
    """Every built-in benchmark; ``quick`` uses fewer repeats and sizes."""
    repeats = 2 if quick else 5
    n = 20_000 if quick else 200_000
    results: list[Result] = []
    results += bench_bars(repeats)
    results += bench_stream(repeats)
    results += bench_board(repeats, 10_000 if quick else 100_000)
    results += bench_guards(repeats, n)
    if _have("websockets"):
        results += bench_feed(repeats)
    else:
        results.append(
            Result("Binance trade frames -> engine", "msgs/s", 0.0, note="websockets not installed: skipped")
        )
    return results


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit.endswith("/s"):
        for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
            if value >= scale:
                return f"{value / scale:.2f}{suffix}{unit}"
        return f"{value:.0f} {unit}"
    return f"{value:.2f} {unit}"


def render(results: list[Result]) -> str:
    """The results as a table that fits 80 columns (ratio = how many times faster montalaq
    is than the peer): long measurement names wrap at 30 characters, the peer's name and
    figure take two lines, and each note follows the table on a line of its own."""
    import textwrap

    rows = [(["measurement"], "montalaq", "ratio", ["peer"])]
    for r in results:
        peer = ["-"] if r.peer is None else [r.peer, _fmt(r.peer_value, r.unit)]
        ours = _fmt(r.montalaq, r.unit) if r.montalaq else "-"
        ratio = "-" if r.ratio is None else f"{r.ratio:.1f}x"
        rows.append((textwrap.wrap(r.name, 30) or [""], ours, ratio, peer))
    w_ours = max(len(row[1]) for row in rows)
    w_ratio = max(len(row[2]) for row in rows)
    w_name = min(30, max(len(line) for row in rows for line in row[0]))
    lines = []
    for names, ours, ratio, peer in rows:
        for i in range(max(len(names), len(peer))):
            cells = (
                (names[i] if i < len(names) else "").ljust(w_name),
                (ours if i == 0 else "").ljust(w_ours),
                (ratio if i == 0 else "").rjust(w_ratio),
                peer[i] if i < len(peer) else "",
            )
            lines.append("  ".join(cells).rstrip())
    lines += [f"note: {r.name}: {r.note}" for r in results if r.note]
    return "\n".join(lines)


__all__ = ["Result", "render", "run"]
