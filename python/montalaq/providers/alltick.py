"""AllTick: the WebSocket trade-tick (22004) and depth (22002) subscriptions with the
heartbeat (22000) every 10 s; no history, so a reconnect's gap is recorded, not filled.

Requests, pushes, ``ret`` codes and the decisions: docs/feeds.md, "The protocols, as the
clients speak them" (AllTick) and "When the connection fails" (Gaps recorded).
"""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from montalaq.providers.base import MalformedFrameError, ProviderAuthError, StreamClient

log = logging.getLogger("montalaq.providers")

DEFAULT_WS_URL = "wss://quote.alltick.io/quote-stock-b-ws-api"
FX_CRYPTO_WS_URL = "wss://quote.alltick.io/quote-b-ws-api"
_NS = 1_000_000_000
_MS = 1_000_000
_SIDE = {0: 0, 1: 1, 2: -1}


class AllTickClient(StreamClient):
    """Trades and best quotes of AllTick codes (``AAPL.US``, ``700.HK``, ``EURUSD``) with the
    token ``token`` (never logged)."""

    name = "AllTick"
    heartbeat_s = 10.0

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        token: str,
        ws_url: str = DEFAULT_WS_URL,
        idle_timeout_s: float = 30.0,
        max_pending: int = 1_000_000,
        depth: bool = True,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(
            symbols, ws_url=ws_url, idle_timeout_s=idle_timeout_s, max_pending=max_pending, clock=clock
        )
        if not token:
            raise ValueError("token: AllTick needs a token (ALLTICK_API_KEY)")
        self._token = token
        self._secret = token
        self.depth = depth
        self._seq = itertools.count(1)

    def connect_url(self) -> str:
        sep = "&" if "?" in self.ws_url else "?"
        return f"{self.ws_url}{sep}token={self._token}"

    def _request(self, cmd_id: int, data: dict[str, Any]) -> str:
        return json.dumps(
            {"cmd_id": cmd_id, "seq_id": next(self._seq), "trace": uuid.uuid4().hex, "data": data}
        )

    def subscribe_messages(self) -> list[str]:
        msgs = [self._request(22004, {"symbol_list": [{"code": s} for s in self.symbols]})]
        if self.depth:
            msgs.append(
                self._request(22002, {"symbol_list": [{"code": s, "depth_level": 1} for s in self.symbols]})
            )
        return msgs

    def heartbeat_message(self) -> str | None:
        return self._request(22000, {})

    def on_frame(self, frame: str | bytes) -> None:
        msg = json.loads(frame)
        if not isinstance(msg, dict):
            raise MalformedFrameError("expected a JSON object")
        cmd = msg.get("cmd_id")
        data = msg.get("data")
        if cmd == 22998:
            if not isinstance(data, dict):
                raise MalformedFrameError("22998: data: expected an object")
            sym = self._symbol(data.get("code"))
            size = float(data.get("volume") or 0.0)
            side = _SIDE.get(int(data.get("trade_direction") or 0), 0)
            self.add_trade(
                sym, _time_ns(data["tick_time"]), float(data["price"]), size if size > 0 else 1.0, side, -1
            )
        elif cmd == 22999:
            if not isinstance(data, dict):
                raise MalformedFrameError("22999: data: expected an object")
            sym = self._symbol(data.get("code"))
            bids, asks = data.get("bids") or [], data.get("asks") or []
            if not bids or not asks:
                return  # a one-sided book has no best quote to report
            self.add_quote(sym, _time_ns(data["tick_time"]), float(bids[0]["price"]), float(asks[0]["price"]))
        elif cmd in (22001, 22003, 22005):
            ret = msg.get("ret", 200)
            if ret == 200:
                return
            text = str(msg.get("msg", ""))[:200]
            if ret == 401:
                raise ProviderAuthError(f"AllTick: {text or 'token invalid'} (ret 401)")
            self.last_error = f"cmd {cmd}: ret {ret} {text}"
            log.warning(
                "AllTick: %s", self.last_error, extra={"component": "provider", "provider": self.name}
            )
        else:
            raise MalformedFrameError(f"unknown cmd_id {cmd!r}")

    def _symbol(self, raw: object) -> str:
        if not isinstance(raw, str) or raw not in self.symbols:
            raise MalformedFrameError(f"code: {raw!r} was not subscribed")
        return raw


def _time_ns(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise MalformedFrameError("tick_time: expected a number")
    value = int(float(raw))
    return value * _NS if value < 100_000_000_000 else value * _MS


__all__ = ["DEFAULT_WS_URL", "FX_CRYPTO_WS_URL", "AllTickClient"]
