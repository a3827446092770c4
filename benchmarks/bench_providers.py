"""Provider client benchmark (budget: a client parses and hands to the engine >= 200k trade
messages/s on one core), one run.

    python benchmarks/bench_providers.py [--quick] [--json PATH] [--repeats N]

Frames: the real Binance capture's trade messages (``binance_spot_btcusdt_ws_2024-08-09``,
combined-stream envelope, as the exchange sends them), repeated with ids and times shifted
to N messages. montalaq: ``BinanceClient.on_frame`` for every frame, ``drain()`` every
1,000 frames (the batches a session yields) and each batch into ``MarketEngine.on_trades``
(1m, 5m, 15m) -- what the service does with a live feed, minus the socket. Peer: a plain
``json.loads`` loop over the same frames, the least any Python client pays, without
building a trade or touching an engine. Also INFO rows: a hand-written client (json.loads,
field access, one ``MarketEngine.on_trade`` per message) and the bookTicker frames.

Ratios are peer time / montalaq time (> 1: montalaq faster). Exit status 0 either way.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import montalaq
from _common import Row, best_of, fmt_rate, git_describe, report, shared_data_dir, standard_args
from montalaq.feeds import TradeBatch
from montalaq.providers import BinanceClient

BUDGET_MSG_S = 200_000
CAPTURE = "binance_spot_btcusdt_ws_2024-08-09"
MS = 1_000_000


def trade_frames(n: int) -> list[str]:
    with open(shared_data_dir() / CAPTURE / "trades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    span_ms = int(rows[-1]["trade_time_ms"]) - int(rows[0]["trade_time_ms"]) + 1
    frames: list[str] = []
    rep = 0
    while len(frames) < n:
        for r in rows:
            t = int(r["trade_time_ms"]) + rep * span_ms
            data = {
                "e": "trade",
                "E": t + 1,
                "s": "BTCUSDT",
                "t": int(r["trade_id"]) + rep * len(rows),
                "p": r["price"],
                "q": r["quantity"],
                "T": t,
                "m": r["is_buyer_maker"] == "true",
                "M": True,
            }
            frames.append(json.dumps({"stream": "btcusdt@trade", "data": data}, separators=(",", ":")))
            if len(frames) == n:
                break
        rep += 1
    return frames


def quote_frames(n: int) -> list[str]:
    with open(shared_data_dir() / CAPTURE / "book_ticker.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for i in range(n):
        q = rows[i % len(rows)]
        data = {
            "u": int(q["update_id"]),
            "s": "BTCUSDT",
            "b": q["bid_price"],
            "B": q["bid_qty"],
            "a": q["ask_price"],
            "A": q["ask_qty"],
        }
        out.append(json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":")))
    return out


def engine() -> montalaq.MarketEngine:
    return montalaq.MarketEngine(["1m", "5m", "15m"], symbols=["BTCUSDT"])


def client_run(frames: list[str]) -> tuple[int, int]:
    """Frames through the client into a fresh engine; (trades accepted, quotes)."""
    client = BinanceClient(["BTCUSDT"], ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
    eng = engine()
    accepted = quotes = 0
    on_frame = client.on_frame
    for i, f in enumerate(frames, 1):
        on_frame(f)
        if i % 1000 == 0 or i == len(frames):
            for b in client.drain():
                if isinstance(b, TradeBatch):
                    counts, _ = eng.on_trades(b.symbol, b.ts_ns, b.price, b.size, b.side, b.trade_id)
                    accepted += counts.get("ACCEPTED", 0)
                else:
                    for ts, bid, ask in zip(b.ts_ns.tolist(), b.bid.tolist(), b.ask.tolist(), strict=True):
                        eng.on_quote(b.symbol, ts, bid, ask)
                        quotes += 1
    return accepted, quotes


def json_loop(frames: list[str]) -> int:
    n = 0
    loads = json.loads
    for f in frames:
        loads(f)
        n += 1
    return n


def hand_written(frames: list[str]) -> int:
    """What a quick client does: one engine call per message."""
    eng = engine()
    n = 0
    for f in frames:
        d = json.loads(f)["data"]
        eng.on_trade("BTCUSDT", d["T"] * MS, float(d["p"]), float(d["q"]), -1 if d["m"] else 1, d["t"])
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    args = standard_args(__doc__, argv)
    n = 20_000 if args.quick else 300_000
    repeats = args.repeats or (2 if args.quick else 5)
    started = time.perf_counter()
    frames = trade_frames(n)
    accepted, _ = client_run(frames)
    if accepted != n:
        raise SystemExit(f"the client path accepted {accepted} of {n} trades: the benchmark is broken")
    ours = best_of(lambda: client_run(frames), repeats)
    peer = best_of(lambda: json_loop(frames), repeats)
    hand = best_of(lambda: hand_written(frames), repeats)
    qframes = quote_frames(n)
    quotes = best_of(lambda: client_run(qframes), repeats)
    rate = n / ours.best_s
    figures: dict[str, Any] = {
        "messages": n,
        "client_msg_s": rate,
        "json_loads_msg_s": n / peer.best_s,
        "hand_written_msg_s": n / hand.best_s,
        "quote_msg_s": n / quotes.best_s,
    }
    rows = [
        Row(
            "Binance trade frames -> engine (msg/s)",
            fmt_rate(rate),
            f"json.loads only {fmt_rate(n / peer.best_s)}",
            peer.best_s / ours.best_s,
            f">= {BUDGET_MSG_S // 1000}k msg/s",
            rate >= BUDGET_MSG_S,
            figures={"best_s": ours.best_s, "runs_s": ours.runs_s},
        ),
        Row(
            "hand-written client, one on_trade per msg",
            fmt_rate(n / hand.best_s),
            "-",
            None,
            figures={"best_s": hand.best_s},
        ),
        Row(
            "Binance bookTicker frames -> engine (msg/s)",
            fmt_rate(n / quotes.best_s),
            figures={"best_s": quotes.best_s},
        ),
    ]
    mode = "quick" if args.quick else "full"
    print(
        f"montalaq {montalaq.__version__} ({git_describe()}) provider benchmarks, {mode} mode, {n:,} messages"
    )
    report(rows, figures, args.json, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
