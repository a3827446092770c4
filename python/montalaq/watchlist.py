"""The watchlist: which symbols the Celery workers watch, at which timeframes, through which
provider -- a YAML file (``WATCHLIST_PATH``) read by the scheduler tick::

    wl = load_watchlist("watchlist.yaml")
    wl.pairs()            # [("SPY", "1m"), ("SPY", "5m"), ("EURUSD", "1m"), ...]
    wl.provider_of("SPY") # "AllTick"

The file's format, the ``source`` kinds, the strict validation and its errors, the digest:
docs/semantics.md, "Watchlist".
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from montalaq.shapes import SourceSpecDoc
from montalaq.timeframes import parse_timeframe, timeframe_label

if TYPE_CHECKING:
    from montalaq.settings import Settings

PROVIDERS = ("AllTick", "TwelveData", "Binance", "Replay", "Simulated")
_PROVIDER_LIST = ", ".join(PROVIDERS[:-1]) + " or " + PROVIDERS[-1]
SOURCE_KINDS = ("auto", "sample", "replay", "simulated", "custom", "none")
DEFAULT_TIMEFRAMES = ("1m", "5m", "15m")

_TOP_KEYS = ("version", "timeframes", "feed", "pairs")
_FEED_KEYS = ("speed", "warmup_s")
_ENTRY_KEYS = ("symbol", "provider", "timeframes", "source", "calendar")
_SOURCE_KEYS: Mapping[str, tuple[str, ...]] = {
    "auto": (),
    "sample": ("name", "start_offset_s", "loop"),
    "replay": ("path", "start_offset_s", "loop"),
    "simulated": ("seed", "start_price", "rate_per_s", "vol_bps"),
    "custom": ("options",),
    "none": (),
}
_MAX_SYMBOL = 64


class WatchlistError(ValueError):
    """The watchlist is missing, malformed or invalid (the message names file, entry, field)."""


@dataclass(frozen=True)
class SourceSpec:
    """Where an entry's trades come from (docs/semantics.md, "Watchlist": each ``kind``).

    ``path`` is absolute (resolved against the watchlist's folder); seconds are seconds;
    ``vol_bps`` basis points per square-root second; ``rate_per_s`` trades per second.
    """

    kind: str = "auto"
    name: str | None = None
    path: Path | None = None
    start_offset_s: float | None = None
    loop: bool = True
    seed: int | None = None
    start_price: float | None = None
    rate_per_s: float | None = None
    vol_bps: float | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> SourceSpecDoc:
        """The spec as plain JSON-ready values (``path`` as a string)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "start_offset_s": self.start_offset_s,
            "loop": self.loop,
            "seed": self.seed,
            "start_price": self.start_price,
            "rate_per_s": self.rate_per_s,
            "vol_bps": self.vol_bps,
            "options": dict(self.options),
        }


@dataclass(frozen=True)
class WatchlistEntry:
    """One watched symbol: its provider name, its timeframes (canonical labels, in the
    file's order) and its trade source."""

    symbol: str
    provider: str
    timeframes: tuple[str, ...]
    source: SourceSpec = field(default_factory=SourceSpec)
    calendar: str = "24/7"  # the market calendar of its pairs (docs/semantics.md, "Market calendars")

    def pairs(self) -> list[tuple[str, str]]:
        """``[(symbol, timeframe), ...]`` of this entry."""
        return [(self.symbol, tf) for tf in self.timeframes]


@dataclass(frozen=True)
class Watchlist:
    """A validated watchlist. ``speed``: virtual seconds per wall second of the built-in
    replayed/simulated feeds; ``warmup_s``: seconds of history they ingest before the
    first bar that is analysed. ``path``: the file it came from (None: from a string)."""

    entries: tuple[WatchlistEntry, ...]
    speed: float = 1.0
    warmup_s: float = 0.0
    path: Path | None = None

    @property
    def symbols(self) -> list[str]:
        """Every symbol, in file order."""
        return [e.symbol for e in self.entries]

    @property
    def timeframes(self) -> list[str]:
        """Every timeframe used by some entry, shortest first."""
        seen = {tf for e in self.entries for tf in e.timeframes}
        return sorted(seen, key=parse_timeframe)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (symbol, timeframe), in file order."""
        return [p for e in self.entries for p in e.pairs()]

    @functools.cached_property
    def _by_symbol(self) -> dict[str, WatchlistEntry]:
        return {e.symbol: e for e in self.entries}

    def entry(self, symbol: str) -> WatchlistEntry:
        """The entry of ``symbol``; ValueError naming the known symbols otherwise."""
        found = self._by_symbol.get(symbol)
        if found is None:
            raise ValueError(f"symbol: {symbol!r} is not in the watchlist; watched: {self.symbols}")
        return found

    def calendars(self) -> dict[str, str]:
        """``{symbol: market calendar}`` of every entry ("24/7" where the entry names none)."""
        return {e.symbol: e.calendar for e in self.entries}

    def provider_of(self, symbol: str) -> str:
        """The provider name recorded for ``symbol``'s pairs."""
        return self.entry(symbol).provider

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the normalised content: equal for equal watchlists (computed once)."""
        doc = {
            "speed": self.speed,
            "warmup_s": self.warmup_s,
            "pairs": [
                {
                    "symbol": e.symbol,
                    "provider": e.provider,
                    "timeframes": list(e.timeframes),
                    "source": e.source.to_dict(),
                    **({"calendar": e.calendar} if e.calendar != "24/7" else {}),  # old digests hold
                }
                for e in self.entries
            ],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------------ loading


def load_watchlist(path: str | os.PathLike[str]) -> Watchlist:
    """Read and validate the YAML file at ``path``; :class:`WatchlistError` on any problem."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WatchlistError(f"{p}: no such watchlist file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WatchlistError(f"{p}: cannot read the watchlist: {type(exc).__name__}: {exc}") from None
    return parse_watchlist(text, source=str(p), base_dir=p.resolve().parent, path=p)


def watchlist_from_settings(settings: Settings) -> Watchlist:
    """The watchlist at ``WATCHLIST_PATH``; WatchlistError when the variable is unset."""
    if settings.watchlist_path is None:
        raise WatchlistError(
            "WATCHLIST_PATH: required (a YAML file of pairs, timeframes and providers; see "
            "montalaq.watchlist)"
        )
    return load_watchlist(settings.watchlist_path)


def parse_watchlist(
    text: str | Mapping[str, Any],
    *,
    source: str = "<watchlist>",
    base_dir: str | os.PathLike[str] | None = None,
    path: Path | None = None,
) -> Watchlist:
    """Validate a watchlist given as YAML text or an already-parsed mapping. ``source``
    names it in errors; relative replay paths resolve against ``base_dir`` (default the
    working directory)."""
    import yaml

    if isinstance(text, str):
        try:
            doc = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
            raise WatchlistError(f"{source}: not valid YAML{where}: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise WatchlistError(f"{source}: not valid YAML: {exc}") from None
    elif isinstance(text, Mapping):
        doc = text
    else:
        raise TypeError(f"text: expected YAML text or a mapping, got {type(text).__name__}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _Parser(source, base).document(doc, path)


class _Parser:
    def __init__(self, origin: str, base: Path) -> None:
        self.origin = origin
        self.base = base

    def fail(self, where: str, message: str) -> WatchlistError:
        return WatchlistError(f"{self.origin}: {where}: {message}" if where else f"{self.origin}: {message}")

    def keys(self, where: str, value: Mapping[Any, Any], allowed: Sequence[str]) -> None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            accepted = ", ".join(allowed) if allowed else "none"
            raise self.fail(where, f"unknown key {unknown[0]!r}; accepted keys: {accepted}")

    def document(self, doc: object, path: Path | None) -> Watchlist:
        if doc is None:
            raise self.fail("", "empty watchlist; expected a mapping with a 'pairs' list")
        if not isinstance(doc, Mapping):
            raise self.fail("", f"expected a mapping with a 'pairs' list, got {_kind(doc)}")
        self.keys("", doc, _TOP_KEYS)
        version = doc.get("version", 1)
        if version != 1 or isinstance(version, bool):
            raise self.fail("version", f"expected 1, got {version!r}")
        default_tfs = (
            self.timeframes("timeframes", doc["timeframes"]) if "timeframes" in doc else DEFAULT_TIMEFRAMES
        )
        speed, warmup_s = 1.0, 0.0
        if "feed" in doc:
            feed = doc["feed"]
            if not isinstance(feed, Mapping):
                raise self.fail("feed", f"expected a mapping with speed and warmup_s, got {_kind(feed)}")
            self.keys("feed", feed, _FEED_KEYS)
            if "speed" in feed:
                speed = self.number("feed.speed", feed["speed"], minimum=0.0, inclusive=False)
            if "warmup_s" in feed:
                warmup_s = self.number("feed.warmup_s", feed["warmup_s"], minimum=0.0)
        if "pairs" not in doc:
            raise self.fail("pairs", "required: a list of entries (symbol, provider, timeframes, source)")
        raw_pairs = doc["pairs"]
        if not isinstance(raw_pairs, list) or not raw_pairs:
            raise self.fail("pairs", f"expected a non-empty list of entries, got {_kind(raw_pairs)}")
        entries: list[WatchlistEntry] = []
        first_seen: dict[str, int] = {}
        for i, raw in enumerate(raw_pairs):
            entry = self.entry(i, raw, default_tfs)
            if entry.symbol in first_seen:
                raise self.fail(
                    f"pairs[{i}] ({entry.symbol}).symbol",
                    f"duplicate symbol: already listed in pairs[{first_seen[entry.symbol]}]; list its "
                    "timeframes in one entry",
                )
            first_seen[entry.symbol] = i
            entries.append(entry)
        return Watchlist(tuple(entries), speed=speed, warmup_s=warmup_s, path=path)

    def entry(self, i: int, raw: object, default_tfs: tuple[str, ...]) -> WatchlistEntry:
        where = f"pairs[{i}]"
        if not isinstance(raw, Mapping):
            raise self.fail(where, f"expected a mapping with symbol and provider, got {_kind(raw)}")
        symbol = raw.get("symbol")
        if "symbol" not in raw:
            raise self.fail(f"{where}.symbol", "required: the instrument's symbol, e.g. SPY")
        if (
            not isinstance(symbol, str)
            or not symbol
            or len(symbol) > _MAX_SYMBOL
            or any(c.isspace() for c in symbol)
            or "|" in symbol
        ):
            raise self.fail(
                f"{where}.symbol",
                f"expected 1-{_MAX_SYMBOL} characters without whitespace or '|', got {symbol!r}",
            )
        where = f"pairs[{i}] ({symbol})"
        self.keys(where, raw, _ENTRY_KEYS)
        if "provider" not in raw:
            raise self.fail(f"{where}.provider", f"required: one of {_PROVIDER_LIST}")
        provider = self.provider(f"{where}.provider", raw["provider"])
        tfs = (
            self.timeframes(f"{where}.timeframes", raw["timeframes"]) if "timeframes" in raw else default_tfs
        )
        src = self.source(f"{where}.source", raw.get("source", "auto"), symbol)
        calendar = "24/7"
        if "calendar" in raw:
            from montalaq.calendars import normalize

            try:
                calendar = normalize(raw["calendar"])
            except (ValueError, TypeError) as exc:
                raise self.fail(f"{where}.calendar", str(exc)) from None
        return WatchlistEntry(symbol, provider, tfs, src, calendar)

    def provider(self, where: str, value: object) -> str:
        if isinstance(value, str):
            for name in PROVIDERS:
                if value.strip().lower() == name.lower():
                    return name
        raise self.fail(where, f"expected {_PROVIDER_LIST}, got {value!r}")

    def timeframes(self, where: str, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise self.fail(where, f"expected a non-empty list such as [1m, 5m, 15m], got {value!r}")
        out: list[str] = []
        for j, tf in enumerate(items):
            if not isinstance(tf, str):
                raise self.fail(f"{where}[{j}]", f"expected a timeframe such as '1m', got {tf!r}")
            try:
                label = timeframe_label(parse_timeframe(tf.strip()))
            except ValueError:
                raise self.fail(
                    f"{where}[{j}]",
                    f"expected a timeframe <n><unit> with unit s, m, h or d (e.g. 1m, 5m, 1h), got {tf!r}",
                ) from None
            if label in out:
                raise self.fail(f"{where}[{j}]", f"timeframe {label} is listed twice")
            out.append(label)
        return tuple(out)

    def source(self, where: str, value: object, symbol: str) -> SourceSpec:
        if isinstance(value, str):
            value = {"kind": value}
        if not isinstance(value, Mapping):
            raise self.fail(
                where,
                f"expected one of {', '.join(SOURCE_KINDS)} or a mapping with 'kind', got {_kind(value)}",
            )
        kind = value.get("kind", "auto")
        if kind not in SOURCE_KINDS:
            raise self.fail(f"{where}.kind", f"expected one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
        self.keys(f"{where} ({kind})", value, ("kind", *_SOURCE_KEYS[kind]))
        spec: dict[str, Any] = {"kind": kind}
        if kind == "sample":
            spec["name"] = self._sample_name(where, value, symbol)
        if kind == "replay":
            spec["path"] = self._replay_path(where, value)
        if kind in ("sample", "replay"):
            spec.update(self._playback(where, value))
        if kind == "simulated":
            spec.update(self._simulated(where, value))
        if kind == "custom":
            options = value.get("options", {})
            if not isinstance(options, Mapping):
                raise self.fail(f"{where}.options", f"expected a mapping, got {_kind(options)}")
            spec["options"] = MappingProxyType(dict(options))
        return SourceSpec(**spec)

    def _sample_name(self, where: str, value: Mapping[str, Any], symbol: str) -> str:
        from montalaq.sample import SAMPLES

        name = value.get("name", symbol)
        if not isinstance(name, str) or name.lower() not in SAMPLES:
            raise self.fail(
                f"{where}.name", f"expected a bundled sample ({', '.join(sorted(SAMPLES))}), got {name!r}"
            )
        return name.lower()

    def _replay_path(self, where: str, value: Mapping[str, Any]) -> Path:
        raw_path = value.get("path")
        if not isinstance(raw_path, str) or not raw_path:
            raise self.fail(f"{where}.path", f"required: a trade file path, got {raw_path!r}")
        p = Path(raw_path)
        p = p if p.is_absolute() else (self.base / p)
        if not p.is_file():
            raise self.fail(f"{where}.path", f"no such file: {p}")
        return p

    def _playback(self, where: str, value: Mapping[str, Any]) -> dict[str, Any]:
        """``start_offset_s`` and ``loop`` of a sample or replay source."""
        out: dict[str, Any] = {}
        if "start_offset_s" in value:
            out["start_offset_s"] = self.number(f"{where}.start_offset_s", value["start_offset_s"], 0.0)
        if "loop" in value:
            if not isinstance(value["loop"], bool):
                raise self.fail(f"{where}.loop", f"expected true or false, got {value['loop']!r}")
            out["loop"] = value["loop"]
        return out

    def _simulated(self, where: str, value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "seed" in value:
            seed = value["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise self.fail(f"{where}.seed", f"expected an integer >= 0, got {seed!r}")
            out["seed"] = seed
        for key in ("start_price", "rate_per_s"):
            if key in value:
                out[key] = self.number(f"{where}.{key}", value[key], 0.0, inclusive=False)
        if "vol_bps" in value:
            out["vol_bps"] = self.number(f"{where}.vol_bps", value["vol_bps"], 0.0)
        return out

    def number(self, where: str, value: object, minimum: float, *, inclusive: bool = True) -> float:
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a finite number {bound}, got {value!r}")
        if not math.isfinite(value) or not (value >= minimum if inclusive else value > minimum):
            raise self.fail(where, f"expected a finite number {bound}, got {value!r}")
        return float(value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


__all__ = [
    "DEFAULT_TIMEFRAMES",
    "PROVIDERS",
    "SOURCE_KINDS",
    "SourceSpec",
    "Watchlist",
    "WatchlistEntry",
    "WatchlistError",
    "load_watchlist",
    "parse_watchlist",
    "watchlist_from_settings",
]
