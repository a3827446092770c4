"""Idempotency / dedupe: a stable key, an in-process TTL cache, a Redis twin
(docs/semantics.md, "Guards", Dedupe keys and caches).

``dedup_key(...)`` names one trading intent as 64 lowercase hex characters;
``check_and_record(key)`` on a :class:`DedupeCache` (this process) or a :class:`RedisDedupe`
(many processes) answers ALLOWED (and records the key for ``ttl_s``) or DEDUPED::

    key = dedup_key("BTCUSDT", "buy", "breakout", "15m", 64_123.5, ts)
    if cache.check_and_record(key) is DedupeResult.ALLOWED:
        place_order(...)
"""

from __future__ import annotations

import hashlib
import math
from decimal import ROUND_FLOOR, Decimal, localcontext
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from montalaq._native import guard as _g
from montalaq._optional import needs
from montalaq._time import UNSET, TimeLike, Unset, deprecated_now, to_ns
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    import redis

DedupeResult = _g.DedupeResult

_SEPARATOR = "|"


# --- the key -------------------------------------------------------------------------


def dedup_key(
    symbol: str,
    side: str,
    strategy: str,
    timeframe: str,
    price: float | Decimal,
    ts: TimeLike,
    *,
    price_step: float | Decimal | None = None,
    bucket_s: float = 900,
) -> str:
    """SHA-256 (lowercase hex, 64 characters) of :func:`dedup_key_text`'s string.

    Two calls give the same key when they agree on symbol, side, strategy and timeframe,
    and their prices and times fall in the same buckets (see :func:`dedup_key_text`).
    """
    text = dedup_key_text(
        symbol, side, strategy, timeframe, price, ts, price_step=price_step, bucket_s=bucket_s
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dedup_key_text(
    symbol: str,
    side: str,
    strategy: str,
    timeframe: str,
    price: float | Decimal,
    ts: TimeLike,
    *,
    price_step: float | Decimal | None = None,
    bucket_s: float = 900,
) -> str:
    """The string :func:`dedup_key` hashes (UTF-8):
    ``"{symbol}|{SIDE}|{strategy}|{timeframe}|{price_bucket}|{time_bucket}"``.

    - ``symbol``, ``strategy``: as given (case-sensitive); non-empty, no ``|``, no leading or
      trailing whitespace.
    - ``SIDE``: ``BUY`` or ``SELL`` (accepted in any case).
    - ``timeframe``: the canonical label (``"60s"`` is written ``1m``).
    - ``price_bucket = floor(price / price_step)`` as a decimal integer. ``price`` must be
      finite and > 0; the default step is ``10 ** (floor(log10(price)) - 3)`` (4 significant
      digits, so the bucket is the price's first four digits: 64123.5 -> 6412, 0.3 -> 3000).
      Floats are taken at their shortest repr (``0.3`` is 3/10, not 0.2999...), so the
      bucket is what the printed price suggests.
    - ``time_bucket = floor(epoch_seconds / bucket_s)`` [900] as a decimal integer, computed
      in integer nanoseconds. ``ts``: int ns, an aware ``datetime``/``pandas.Timestamp`` or
      ``numpy.datetime64`` (UTC), after 1970.

    Example: ``dedup_key_text("BTCUSDT", "buy", "breakout", "15m", 64123.5,
    1_767_225_600_000_000_000)`` is ``"BTCUSDT|BUY|breakout|15m|6412|1963584"``.
    Missing (None) or empty fields, a side other than buy/sell, an unknown timeframe and a
    NaN, infinite or non-positive price raise ``ValueError`` naming the field; values of
    the wrong type raise ``TypeError``.
    """
    sym = _field("symbol", symbol)
    raw_side = _field("side", side)
    up = raw_side.upper()
    if up not in ("BUY", "SELL"):
        raise ValueError(f"side: expected 'BUY' or 'SELL' (any case), got {raw_side!r}")
    strat = _field("strategy", strategy)
    tf = timeframe_label(parse_timeframe(_field("timeframe", timeframe)))
    p = _positive_decimal("price", price)
    if price_step is None:
        step = Decimal((0, (1,), p.adjusted() - 3))
    else:
        step = _positive_decimal("price_step", price_step)
    if ts is None:
        raise ValueError("ts: required, got None")
    ts_ns = to_ns(ts, "ts")
    if ts_ns <= 0:
        raise ValueError(f"ts: expected a time after 1970-01-01, got {ts_ns} ns")
    time_bucket = ts_ns // _bucket_ns(bucket_s)
    return _SEPARATOR.join((sym, up, strat, tf, str(_floor_div(p, step)), str(time_bucket)))


def _field(name: str, value: object) -> str:
    if value is None:
        raise ValueError(f"{name}: required, got None")
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name}: must not be empty, got {value!r}")
    if value != value.strip():
        raise ValueError(f"{name}: {value!r} has leading or trailing whitespace")
    if _SEPARATOR in value:
        raise ValueError(f"{name}: {value!r} contains {_SEPARATOR!r}, the key's separator")
    return value


def _positive_decimal(name: str, value: object) -> Decimal:
    """A finite number > 0 as an exact Decimal (floats at their shortest repr)."""
    if value is None:
        raise ValueError(f"{name}: required, got None")
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if isinstance(value, Decimal | int):
        d = Decimal(value)
    else:
        try:
            f = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected a number, got {type(value).__name__}") from None
        if not math.isfinite(f):
            raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
        d = Decimal(repr(f))
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return d


def _floor_div(p: Decimal, step: Decimal) -> int:
    with localcontext() as ctx:
        # Rounding the quotient down to 60 digits never crosses an integer below it.
        ctx.prec = 60
        ctx.rounding = ROUND_FLOOR
        q = p / step
        if q.adjusted() >= 50:
            raise ValueError(f"price_step: {step} makes the price bucket of {p} absurdly large")
        return int(q.to_integral_value(rounding=ROUND_FLOOR))


def _bucket_ns(bucket_s: object) -> int:
    if isinstance(bucket_s, int) and not isinstance(bucket_s, bool):
        ns = bucket_s * 1_000_000_000
    else:
        s = _seconds(bucket_s, "bucket_s")
        ns = _llround(s * 1e9) if math.isfinite(s) else 0
    if ns < 1:
        raise ValueError(f"bucket_s: expected seconds > 0, got {bucket_s!r}")
    return ns


# bucket_s is the key's alone (the caches take now and ttl_s through the native module),
# read with the caches' words and rounding.
def _seconds(value: object, name: str) -> float:
    if not isinstance(value, bool | str | bytes | complex):
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            return math.inf  # a huge int: refused as out of range by the caller
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{name}: expected seconds (a real number), got {type(value).__name__}")


def _llround(v: float) -> int:
    """C's llround: nearest integer, halves away from zero."""
    n = math.trunc(v)
    if abs(v - n) >= 0.5:
        n += 1 if v > 0 else -1
    return n


# --- backends ----------------------------------------------------------------------------


class DedupeStore(Protocol):
    """What :class:`DedupeCache` and :class:`RedisDedupe` have in common."""

    @property
    def ttl_s(self) -> float: ...

    def check_and_record(
        self, key: str, now: TimeLike | None = None, ttl_s: float | None = None
    ) -> DedupeResult: ...

    def contains(self, key: str, now: TimeLike | None = None) -> bool: ...


class DedupeCache(_g.DedupeCache):
    """In-process TTL dedupe cache (native; ``check_and_record`` costs well under 1 µs).

    ``check_and_record(key, now=None, ttl_s=None)``: ALLOWED and ``key`` recorded until
    ``now + ttl_s``, or DEDUPED while an earlier record is unexpired. ``now`` is int ns, an
    aware datetime or datetime64 (docs/semantics.md, "Time values in Python"), None this
    machine's wall clock; ``ttl_s=None`` is the cache's ``ttl_s``. ``contains(key, now=None)``
    looks without recording. ``now_s=`` (float seconds) is deprecated.

    Memory is bounded: expired records are purged as calls go (and by ``purge()``), and a
    new key arriving when ``capacity`` records are held first purges every expired record,
    then, if none was, evicts the record expiring soonest (``evictions`` counts them; an
    evicted key can be ALLOWED again early, so size ``capacity`` above the keys recorded in
    one TTL). A record purged at some time stays purged if a passed-in clock later steps
    back. Thread safety: calls are serialised by the GIL (the native calls never release it).
    """

    def __init__(self, ttl_s: float = 900.0, capacity: int = 1_000_000) -> None:
        super().__init__(ttl_s, capacity)  # the native constructor checks both


# ns values exceed a double's 53 bits (Lua's numbers), so they travel as decimal strings
# and are compared as (seconds, nanoseconds) pairs, each exact in a double. The record's
# value is its expiry in ns; SET ... PX gives it a server-side expiry in the same call, so
# no record ever lacks one, whatever happens to the caller.
_CHECK_LUA = """
-- KEYS[1]: the record. ARGV[1]: now in ns since the epoch ('' = this server's clock);
-- ARGV[2]: TTL in ns; ARGV[3]: '1' check and record, '0' only look; ARGV[4]: TTL in ms,
-- rounded up. Returns 0 when an unexpired record exists (DEDUPED), else 1 (ALLOWED, and
-- the key is recorded unless only looking).
local function split(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end
local now_s, now_n
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_s, now_n = tonumber(t[1]), tonumber(t[2]) * 1000
else
  now_s, now_n = split(ARGV[1])
end
local cur = redis.call('GET', KEYS[1])
if cur then
  if not string.match(cur, '^%d+$') then
    return redis.error_reply('montalaq dedupe: ' .. KEYS[1] .. ' does not hold an expiry in ns')
  end
  local cur_s, cur_n = split(cur)
  if now_s < cur_s or (now_s == cur_s and now_n < cur_n) then return 0 end
end
if ARGV[3] == '0' then return 1 end
local ttl_s, ttl_n = split(ARGV[2])
local exp_s, exp_n = now_s + ttl_s, now_n + ttl_n
if exp_n >= 1000000000 then exp_s, exp_n = exp_s + 1, exp_n - 1000000000 end
local value
if exp_s == 0 then value = string.format('%d', exp_n) else value = string.format('%d%09d', exp_s, exp_n) end
redis.call('SET', KEYS[1], value, 'PX', ARGV[4])
return 1
"""


class RedisDedupe:
    """The same dedupe shared by many processes through Redis (one atomic script per call).

    Same interface and answers as :class:`DedupeCache`. Each record is the Redis string
    ``prefix + key`` holding its expiry in ns since the epoch, with a server-side expiry of
    the TTL (rounded up to ms) set in the same command, so a killed process leaves nothing
    stuck. ``now=None`` reads the Redis server's clock (one clock for every process);
    with a passed-in clock the records still vanish after ``ttl_s`` of real time, so a
    replay clock slower than real time can see a record disappear before its logical
    expiry. There is no capacity: Redis memory is bounded by TTL x key rate (and Redis's
    own ``maxmemory``).
    """

    def __init__(self, url: str, ttl_s: float = 900.0, prefix: str = "montalaq:dedupe:") -> None:
        with needs("RedisDedupe"):
            import redis as redis_mod

        if not isinstance(url, str) or not url:
            raise ValueError("url: expected a redis:// URL")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix: expected a non-empty string")
        self._ttl_ns = _g.dedupe_ttl_ns(ttl_s)
        self.prefix = prefix
        self._client: redis.Redis = redis_mod.Redis.from_url(url)
        self._script = self._client.register_script(_CHECK_LUA)

    @property
    def ttl_s(self) -> float:
        """Default TTL of a record, seconds."""
        return self._ttl_ns / 1e9

    def check_and_record(
        self,
        key: str,
        now: TimeLike | None = None,
        ttl_s: float | None = None,
        *,
        now_s: float | Unset | None = UNSET,
    ) -> DedupeResult:
        """ALLOWED (``key`` recorded until now + ttl) or DEDUPED, atomically across processes."""
        name = self.prefix + _g.check_dedupe_key(key)
        at = _now_ns(now, now_s)
        ttl = self._ttl_ns if ttl_s is None else _g.dedupe_ttl_ns(ttl_s)
        args = ["" if at is None else str(at), str(ttl), "1", str(-(-ttl // 1_000_000))]
        allowed = self._script(keys=[name], args=args)
        return DedupeResult.ALLOWED if int(allowed) == 1 else DedupeResult.DEDUPED

    def check_and_record_many(
        self,
        keys: list[str],
        now: TimeLike | None = None,
        ttl_s: float | None = None,
        *,
        now_s: float | Unset | None = UNSET,
    ) -> list[DedupeResult]:
        """``check_and_record`` for each key in one pipelined round trip, in order (each
        call still atomic; a key repeated in the batch is DEDUPED after its first)."""
        names = [self.prefix + _g.check_dedupe_key(k) for k in keys]
        at = _now_ns(now, now_s)
        ttl = self._ttl_ns if ttl_s is None else _g.dedupe_ttl_ns(ttl_s)
        args = ["" if at is None else str(at), str(ttl), "1", str(-(-ttl // 1_000_000))]
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            self._script(keys=[name], args=args, client=pipe)
        return [DedupeResult.ALLOWED if int(v) == 1 else DedupeResult.DEDUPED for v in pipe.execute()]

    def contains(self, key: str, now: TimeLike | None = None, *, now_s: float | Unset | None = UNSET) -> bool:
        """Is there an unexpired record of ``key`` at ``now``? Records nothing."""
        name = self.prefix + _g.check_dedupe_key(key)
        at = _now_ns(now, now_s)
        return int(self._script(keys=[name], args=["" if at is None else str(at), "1", "0", "1"])) == 0

    def clear(self) -> int:
        """Delete every record under this prefix (expired or not); returns how many."""
        pattern = "".join("\\" + c if c in "\\*?[]" else c for c in self.prefix) + "*"
        deleted = 0
        batch: list[bytes] = []
        for name in self._client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) == 1000:
                deleted += int(self._client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(self._client.delete(*batch))
        return deleted

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> RedisDedupe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _now_ns(now: TimeLike | None, now_s: float | Unset | None) -> int | None:
    """The time of a RedisDedupe call in ns, checked as DedupeCache checks it (None: the
    server's clock); the deprecated ``now_s`` warns at the method's caller."""
    if now_s is UNSET:
        return _g.dedupe_time_ns(now)
    deprecated_now(now, "now_s", stacklevel=4)
    return _g.dedupe_now_ns(now_s)


__all__ = [
    "DedupeCache",
    "DedupeResult",
    "DedupeStore",
    "RedisDedupe",
    "dedup_key",
    "dedup_key_text",
]
