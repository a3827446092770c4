"""State the Celery workers share, in Redis: the feed's clock and cursor, per-pair bar
high-water marks, per-bar analysis claims, the escalation board and what feeds it
(failures, last errors), the open-breaker set, counters and KPI windows, and the locks
that keep the tick, the board and the KPI rollup to one worker at a time.

Keys, the claim states and the feed clock: docs/semantics.md, "Celery" (Keys, Feed,
Analyses).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from redis.exceptions import LockError
from redis.lock import Lock

from montalaq.shapes import KpiWindow

CLAIM_QUEUED = "q"
CLAIM_DONE = "d"

# KEYS[1]: this bar's claim; KEYS[2]: the pair's previous bar's claim (or an unused key).
# ARGV[1]: task id, ARGV[2]: lease in ms, ARGV[3]: '1' to keep the pair's bar order.
_CLAIM_LUA = """
local v = redis.call('GET', KEYS[1])
if v == 'd' then return 'done' end
local mine = 'r:' .. ARGV[1]
if v and v ~= 'q' and v ~= mine then return 'busy' end
if ARGV[3] == '1' then
  local p = redis.call('GET', KEYS[2])
  if p == 'q' or (p and string.sub(p, 1, 2) == 'r:') then return 'wait' end
end
redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
if v == mine then return 'again' end
return 'run'
"""


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value


def pair_field(symbol: str, timeframe: str) -> str:
    """``SYMBOL|TF``: a pair as a key part or hash field."""
    return f"{symbol}|{timeframe}"


def split_pair(field: str | bytes) -> tuple[str, str]:
    """Inverse of :func:`pair_field`."""
    symbol, _, tf = text(field).rpartition("|")
    return symbol, tf


@dataclass(frozen=True)
class FeedRecord:
    """The shared feed clock and cursor (all times int ns since the epoch).

    ``origin_ns``: virtual time of the first replayed/simulated trade; ``first_bar_ns``:
    bars starting earlier are warm-up and never analysed; ``cursor_ns``: virtual time up
    to which the last tick ingested; ``digest``: the watchlist's digest when it did.
    """

    origin_ns: int
    first_bar_ns: int
    anchor_wall_ns: int
    anchor_virtual_ns: int
    speed: float
    cursor_ns: int
    digest: str

    def now_ns(self, wall_ns: int | None = None) -> int:
        """Virtual time now (or at wall time ``wall_ns``), int ns."""
        wall = time.time_ns() if wall_ns is None else wall_ns
        return self.anchor_virtual_ns + int((wall - self.anchor_wall_ns) * self.speed)

    def to_mapping(self) -> dict[str, str]:
        """As Redis hash fields."""
        return {
            "origin_ns": str(self.origin_ns),
            "first_bar_ns": str(self.first_bar_ns),
            "anchor_wall_ns": str(self.anchor_wall_ns),
            "anchor_virtual_ns": str(self.anchor_virtual_ns),
            "speed": repr(self.speed),
            "cursor_ns": str(self.cursor_ns),
            "digest": self.digest,
        }

    @classmethod
    def from_mapping(cls, raw: Mapping[bytes | str, bytes | str]) -> FeedRecord:
        """From Redis hash fields; ValueError when a field is missing or malformed."""
        d = {text(k): text(v) for k, v in raw.items()}
        try:
            return cls(
                origin_ns=int(d["origin_ns"]),
                first_bar_ns=int(d["first_bar_ns"]),
                anchor_wall_ns=int(d["anchor_wall_ns"]),
                anchor_virtual_ns=int(d["anchor_virtual_ns"]),
                speed=float(d["speed"]),
                cursor_ns=int(d["cursor_ns"]),
                digest=d["digest"],
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"feed record: malformed shared state ({type(exc).__name__}: {exc})") from None


class SharedState:
    """Redis-backed shared state of one deployment (docs/semantics.md, "Celery", Keys).

    ``url``: ``redis://`` URL; ``prefix``: key prefix (keys under ``<prefix>celery:``).
    Thread-safe (redis-py clients are); one instance per process.
    """

    def __init__(self, url: str, prefix: str = "montalaq:") -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"REDIS_URL: expected redis://host:port/db, rediss:// or unix://; got {url!r}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix: expected a non-empty string such as 'montalaq:'")
        self.url = url
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(url)
        self._claim = self.client.register_script(_CLAIM_LUA)

    def key(self, *parts: str) -> str:
        """A key of this deployment: ``<prefix>celery:<part>:<part>...``."""
        return self.prefix + "celery:" + ":".join(parts)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def clear(self) -> int:
        """Delete every key of this deployment's state; returns how many."""
        pattern = "".join("\\" + c if c in "\\*?[]" else c for c in self.key("")) + "*"
        n = 0
        batch: list[bytes] = []
        for name in self.client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                n += int(self.client.delete(*batch))
                batch.clear()
        if batch:
            n += int(self.client.delete(*batch))
        return n

    # -- locks ---------------------------------------------------------------------------
    def lock(self, name: str, timeout_s: float) -> Lock:
        """A lock named ``name`` that expires ``timeout_s`` after it was taken."""
        return Lock(self.client, self.key("lock", name), timeout=timeout_s, thread_local=False)

    # -- feed ----------------------------------------------------------------------------
    def feed(self) -> FeedRecord | None:
        """The feed record, or None before the first tick."""
        raw = self.client.hgetall(self.key("feed"))
        return FeedRecord.from_mapping(raw) if raw else None

    def save_feed(self, record: FeedRecord) -> None:
        """Write the whole feed record."""
        self.client.hset(self.key("feed"), mapping=record.to_mapping())  # type: ignore[arg-type]

    def high_water(self) -> dict[tuple[str, str], int]:
        """Per pair, the start (ns) of the last bar the tick handled (queued or skipped)."""
        raw = self.client.hgetall(self.key("hw"))
        return {split_pair(k): int(v) for k, v in raw.items()}

    def advance(
        self,
        cursor_ns: int,
        high_water: Mapping[tuple[str, str], int],
        last_trades: Mapping[str, int],
        *,
        order: Sequence[str] = (),
        digest: str = "",
    ) -> None:
        """After a tick: the new cursor, the pairs' high-water marks and the symbols' last
        trade times, in one transaction (see :meth:`save_last_trades` for ``order`` and
        ``digest``)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key("feed"), "cursor_ns", str(cursor_ns))
        if high_water:
            pipe.hset(self.key("hw"), mapping={pair_field(*p): str(v) for p, v in high_water.items()})
        self._last_trades(pipe, last_trades, order, digest)
        pipe.execute()

    def save_last_trades(
        self, last_trades: Mapping[str, int], order: Sequence[str] = (), digest: str = ""
    ) -> None:
        """Store the symbols' last trade times (ns): a hash by symbol and, when ``order``
        (the watchlist's symbols) and its ``digest`` are given, also one packed int64 array
        in that order that the escalation reads in one step."""
        pipe = self.client.pipeline(transaction=True)
        self._last_trades(pipe, last_trades, order, digest)
        pipe.execute()

    def _last_trades(self, pipe: Any, last: Mapping[str, int], order: Sequence[str], digest: str) -> None:
        if last:
            pipe.hset(self.key("last_trade"), mapping={s: str(v) for s, v in last.items()})
        if order and digest:
            packed = np.array([last.get(s, 0) for s in order], dtype=np.int64).tobytes()
            pipe.set(self.key("last_trade", "packed"), digest.encode() + b"|" + packed)

    def last_trades(self) -> dict[str, int]:
        """Per symbol, the time (ns) of its last accepted trade as of the last tick."""
        return {text(k): int(v) for k, v in self.client.hgetall(self.key("last_trade")).items()}

    def last_trades_packed(self, digest: str, n: int) -> npt.NDArray[np.int64] | None:
        """The packed last trade times saved for the watchlist ``digest`` with ``n`` symbols
        (its order), or None when there are none for it."""
        raw = self.client.get(self.key("last_trade", "packed"))
        if not isinstance(raw, bytes):
            return None
        head, sep, body = raw.partition(b"|")
        if not sep or head.decode() != digest or len(body) != 8 * n:
            return None
        return np.frombuffer(body, dtype=np.int64).copy()

    # -- analysis claims -------------------------------------------------------------------
    def _bar_key(self, symbol: str, timeframe: str, start_ns: int) -> str:
        return self.key("bar", f"{pair_field(symbol, timeframe)}|{start_ns}")

    def mark_queued(self, symbol: str, timeframe: str, start_ns: int, ttl_s: float) -> bool:
        """Mark a bar queued unless its claim already exists; True when it was marked."""
        key = self._bar_key(symbol, timeframe, start_ns)
        return bool(self.client.set(key, CLAIM_QUEUED, nx=True, px=max(1, int(ttl_s * 1000))))

    def claim(
        self,
        symbol: str,
        timeframe: str,
        start_ns: int,
        prev_start_ns: int | None,
        task_id: str,
        lease_s: float,
    ) -> str:
        """Claim a bar for task ``task_id``: ``run``, ``again``, ``wait``, ``busy`` or
        ``done`` (docs/semantics.md, "Celery", Analyses). ``prev_start_ns``: the pair's
        previous queued bar, whose analysis must finish first (None: no order to keep)."""
        keys = [
            self._bar_key(symbol, timeframe, start_ns),
            self._bar_key(symbol, timeframe, prev_start_ns if prev_start_ns is not None else -1),
        ]
        args = [task_id, str(max(1, int(lease_s * 1000))), "1" if prev_start_ns is not None else "0"]
        out = self._claim(keys=keys, args=args)
        return text(out) if isinstance(out, bytes | str) else str(out)

    def claim_state(self, symbol: str, timeframe: str, start_ns: int) -> str | None:
        """The raw claim of a bar (``q``, ``r:<id>``, ``d``) or None."""
        v = self.client.get(self._bar_key(symbol, timeframe, start_ns))
        return None if v is None else text(v)

    def finish(self, symbol: str, timeframe: str, start_ns: int, ttl_s: float) -> None:
        """Mark a bar analysed."""
        key = self._bar_key(symbol, timeframe, start_ns)
        self.client.set(key, CLAIM_DONE, px=max(1, int(ttl_s * 1000)))

    def release(self, symbol: str, timeframe: str, start_ns: int, ttl_s: float) -> None:
        """Give a claimed bar back (queued again: its task retries later)."""
        key = self._bar_key(symbol, timeframe, start_ns)
        self.client.set(key, CLAIM_QUEUED, px=max(1, int(ttl_s * 1000)))

    # -- failures, errors, breakers --------------------------------------------------------
    def push_failure(self, symbol: str, timeframe: str, at_ns: int, code: str) -> None:
        """Queue an analysis failure for the board (drained by the escalation task) and
        make it the pair's last error."""
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(self.key("failures"), json.dumps([symbol, timeframe, int(at_ns), code]))
        pipe.hset(self.key("last_error"), pair_field(symbol, timeframe), f"{int(at_ns)}|{code}")
        pipe.execute()

    def failures(self) -> list[tuple[str, str, int, str]]:
        """Failures queued since the last evaluation, oldest first (not removed)."""
        out: list[tuple[str, str, int, str]] = []
        for raw in self.client.lrange(self.key("failures"), 0, -1):
            sym, tf, at_ns, code = json.loads(raw)
            out.append((str(sym), str(tf), int(at_ns), str(code)))
        return out

    def set_last_errors(self, pairs: Iterable[tuple[str, str]], at_ns: int, code: str) -> None:
        """Make ``code`` the last error of each pair (provider errors: every pair of a symbol)."""
        mapping = {pair_field(s, tf): f"{int(at_ns)}|{code}" for s, tf in pairs}
        if mapping:
            self.client.hset(self.key("last_error"), mapping=mapping)  # type: ignore[arg-type]

    def last_errors(self) -> dict[tuple[str, str], tuple[int, str]]:
        """Per pair, (time ns, code) of its last error."""
        out: dict[tuple[str, str], tuple[int, str]] = {}
        for k, v in self.client.hgetall(self.key("last_error")).items():
            at, _, code = text(v).partition("|")
            out[split_pair(k)] = (int(at), code)
        return out

    def open_breakers(self) -> set[tuple[str, str]]:
        """Pairs whose breaker is open (as of the last board update)."""
        return {split_pair(m) for m in self.client.smembers(self.key("breakers"))}

    # -- counters and KPIs -----------------------------------------------------------------
    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the shared counter ``name``."""
        if n:
            self.client.hincrby(self.key("counters"), name, n)

    def counters(self) -> dict[str, int]:
        """Every shared counter (cumulative since the state was created)."""
        return {text(k): int(v) for k, v in self.client.hgetall(self.key("counters")).items()}

    def add_kpi(self, end_wall_ns: int, doc: Mapping[str, Any], keep: int) -> None:
        """Append one KPI window (scored by its wall-clock end) and keep the last ``keep``."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.key("kpi"), {json.dumps(doc, sort_keys=True, default=str): end_wall_ns})
        pipe.zremrangebyrank(self.key("kpi"), 0, -(keep + 1))
        pipe.execute()

    def kpis(self, limit: int = 100) -> list[KpiWindow]:
        """The newest ``limit`` KPI windows, newest first."""
        raw = self.client.zrevrange(self.key("kpi"), 0, max(0, limit - 1))
        return [json.loads(r) for r in raw if isinstance(r, bytes | str)]


def release(lock: Lock, name: str) -> None:
    """Release a lock taken with :meth:`SharedState.lock`; one that expired while held (the
    work outlived ``lock_timeout_s``) is logged, not raised: the work itself finished, and
    raising here would skip what follows the critical section."""
    try:
        lock.release()
    except LockError:
        logging.getLogger("montalaq.celery").warning(
            "the %s lock expired before it was released: raise CeleryOptions.lock_timeout_s above "
            "the longest run",
            name,
            extra={"component": "celery"},
        )


__all__ = [
    "CLAIM_DONE",
    "CLAIM_QUEUED",
    "FeedRecord",
    "SharedState",
    "pair_field",
    "release",
    "split_pair",
    "text",
]
