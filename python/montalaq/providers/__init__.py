"""Live market data: streaming clients for Binance, Twelve Data and AllTick, and the choice of
a feed from the settings (``PROVIDER``). See docs/feeds.md.

::

    from montalaq.providers import providers_from_settings
    feeds = providers_from_settings(settings)       # {symbol: provider}
    svc = montalaq.Service(settings, providers=feeds)
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence

from montalaq.feeds import Provider, ReplayProvider, SimulatedProvider
from montalaq.providers.alltick import AllTickClient
from montalaq.providers.base import Gap, MalformedFrameError, ProviderAuthError, StreamClient
from montalaq.providers.binance import BinanceClient
from montalaq.providers.twelvedata import TwelveDataClient
from montalaq.settings import Settings

log = logging.getLogger("montalaq.providers")

LIVE_PROVIDERS = ("binance", "twelvedata", "alltick")


def sample_provider(symbol: str, clock: Callable[[], int] = time.time_ns) -> Provider:
    """The demo feed of a symbol: its bundled sample replayed in real time (looping, from
    the regular session, with a warm start), else a simulation seeded from the symbol."""
    from montalaq.sample import BACKFILL_S, SAMPLES, SESSION_OFFSET_S, sample_path

    key = symbol.lower()
    if key in SAMPLES:
        return ReplayProvider(
            sample_path(key),
            symbol=symbol,
            loop=True,
            start_offset_s=SESSION_OFFSET_S.get(key, 0.0),
            backfill_s=BACKFILL_S.get(key, 0.0),
            clock=clock,
        )
    return SimulatedProvider(symbol, seed=zlib.crc32(symbol.encode()), clock=clock)


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if callable(get) else None


def live_client(settings: Settings, provider: str, symbols: Sequence[str]) -> StreamClient:
    """The streaming client of ``provider`` (binance, twelvedata, alltick) for ``symbols``,
    with the settings' URLs and keys. A missing key is a ValueError naming the setting."""
    idle = settings.provider_idle_timeout_sec
    pending = settings.provider_max_pending
    if provider == "binance":
        return BinanceClient(
            symbols,
            ws_url=settings.binance_ws_url,
            rest_url=settings.binance_rest_url,
            api_key=_secret(settings.binance_api_key),
            idle_timeout_s=idle,
            max_pending=pending,
        )
    if provider == "twelvedata":
        key = _secret(settings.twelvedata_api_key)
        if not key:
            raise ValueError("TWELVEDATA_API_KEY: required with PROVIDER=twelvedata")
        return TwelveDataClient(
            symbols,
            api_key=key,
            ws_url=settings.twelvedata_ws_url,
            rest_url=settings.twelvedata_rest_url,
            idle_timeout_s=min(idle, 30.0),  # a heartbeat reply comes every 10 s
            max_pending=pending,
        )
    if provider == "alltick":
        token = _secret(settings.alltick_api_key)
        if not token:
            raise ValueError("ALLTICK_API_KEY: required with PROVIDER=alltick")
        return AllTickClient(
            symbols,
            token=token,
            ws_url=settings.alltick_ws_url,
            idle_timeout_s=min(idle, 30.0),
            max_pending=pending,
        )
    raise ValueError(f"PROVIDER: expected one of {', '.join(LIVE_PROVIDERS)}, got {provider!r}")


def providers_from_settings(
    settings: Settings, symbols: Sequence[str] | None = None, clock: Callable[[], int] = time.time_ns
) -> dict[str, Provider]:
    """``{symbol: provider}`` for ``PROVIDER``: one live client shared by every symbol
    (binance, twelvedata, alltick), seeded simulations (simulated), or the bundled samples
    (replay, and unset -- logged, since a service replaying demo data must not pass for a
    live one)."""
    syms = list(dict.fromkeys(symbols if symbols is not None else settings.symbol))
    kind = settings.provider
    if kind in LIVE_PROVIDERS:
        client = live_client(settings, kind, syms)
        return dict.fromkeys(syms, client)
    if kind == "simulated":
        return {s: SimulatedProvider(s, seed=zlib.crc32(s.encode()), clock=clock) for s in syms}
    if kind is None:
        log.warning(
            "PROVIDER is not set: replaying the bundled samples (demo data, not a live feed); "
            "set PROVIDER=binance|twelvedata|alltick for live data",
            extra={"component": "service"},
        )
    return {s: sample_provider(s, clock) for s in syms}


__all__ = [
    "LIVE_PROVIDERS",
    "AllTickClient",
    "BinanceClient",
    "Gap",
    "MalformedFrameError",
    "ProviderAuthError",
    "StreamClient",
    "TwelveDataClient",
    "live_client",
    "providers_from_settings",
    "sample_provider",
]
