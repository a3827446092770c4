"""Small real trade files shipped for the demo (``make run``) and examples.

See SOURCE.md in this folder for origin and licences.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
SAMPLES = {
    "spy": "20131007_spy_Trade_Tick.csv.gz",
    "btcusdt": "BTCUSDT.csv.gz",
}


SESSION_OFFSET_S = {"spy": 5.5 * 3600.0, "btcusdt": 0.0}
"""Where each sample's replay starts, seconds into the file: SPY's first 5.5 hours are
pre-market (its regular session opens at 13:30 UTC)."""

BACKFILL_S = {"spy": 3600.0, "btcusdt": 0.0}
"""How much of each sample the demo delivers at once on start (a warm start: bars,
features, findings and analyses at once instead of after an hour; BTCUSDT's file lasts 5
minutes)."""


def sample_path(name: str = "spy") -> Path:
    """Path of a bundled sample: ``"spy"`` (one day of SPY trades, 250,601 rows) or
    ``"btcusdt"`` (5 minutes of Binance BTCUSDT trades, 10,147 rows)."""
    try:
        return _HERE / SAMPLES[name]
    except KeyError:
        raise ValueError(f"sample: unknown sample {name!r}; choose one of {sorted(SAMPLES)}") from None
