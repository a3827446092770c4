"""The escalation board the workers share, in Redis (docs/semantics.md, "Celery",
"Escalation"): its binary snapshot (``to_bytes``) and version, loaded into a per-process
cache with the index arrays of its pairs, and saved with what goes with it in one
transaction fenced by the version."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from redis.exceptions import WatchError

from montalaq.calendars import ALWAYS_OPEN, normalize
from montalaq.celery.state import pair_field
from montalaq.cycle import event_doc
from montalaq.health import EscalationBoard, Freshness
from montalaq.shapes import EventDoc
from montalaq.timeframes import parse_timeframe

if TYPE_CHECKING:
    from redis.client import Pipeline

    from montalaq.celery.runtime import Runtime


@dataclass
class BoardCache:
    """A process's copy of the shared board and the index arrays of its pairs.

    ``version``: the shared version it was loaded at (or saved as); ``pairs``: (symbol,
    timeframe) per board index (None for a pair not in the watchlist); ``sym_idx``: per
    index, the position of its symbol in ``symbols`` (``len(symbols)`` when unknown);
    ``tf_ns``: per index, its timeframe in ns.
    """

    version: int
    board: EscalationBoard
    pairs: list[tuple[str, str] | None]
    symbols: list[str]
    sym_idx: npt.NDArray[np.int64]
    tf_ns: npt.NDArray[np.int64]
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    freshness: Freshness = field(default_factory=Freshness)
    cal_idx: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cal_names: list[str] = field(default_factory=lambda: [ALWAYS_OPEN])  # cal_idx -> name


class BoardConflictError(RuntimeError):
    """The shared board changed under an evaluation that outlived its lock (its result is
    dropped; the next evaluation starts from the shared board)."""


def new_board(auto_close_cycles: int) -> EscalationBoard:
    """A board with the default thresholds and ``BREAKER_AUTO_CLOSE_CYCLES``."""
    return EscalationBoard(Freshness(), auto_close_cycles=auto_close_cycles)


@dataclass(frozen=True)
class _Layout:
    """What a watchlist's pairs mean for the board, computed once per watchlist: the symbols,
    per pair its symbol's position and timeframe in ns, per symbol its calendar."""

    keys: tuple[tuple[str, str], ...]
    symbols: list[str]
    symbol_of: npt.NDArray[np.uint32]
    tf_ns: npt.NDArray[np.int64]
    sym_cal: list[str]  # per symbol, its normalised calendar
    cal_names: list[str]  # cal_idx -> name
    pair_cal: npt.NDArray[np.int64]  # per pair, its calendar's position in cal_names


@functools.lru_cache(maxsize=4)
def _layout(keys: tuple[tuple[str, str], ...], calendars: tuple[tuple[str, str], ...]) -> _Layout:
    symbols = list(dict.fromkeys(s for s, _ in keys))
    sym_pos = {s: i for i, s in enumerate(symbols)}
    tf_of = {tf: parse_timeframe(tf) for tf in dict.fromkeys(tf for _, tf in keys)}
    symbol_of = np.fromiter((sym_pos[s] for s, _ in keys), dtype=np.uint32, count=len(keys))
    tf_ns = np.fromiter((tf_of[tf] for _, tf in keys), dtype=np.int64, count=len(keys))
    cal = dict(calendars)
    norm = {raw: normalize(raw) for raw in dict.fromkeys(cal.get(s, ALWAYS_OPEN) for s in symbols)}
    sym_cal = [norm[cal.get(s, ALWAYS_OPEN)] for s in symbols]
    cal_names = [ALWAYS_OPEN, *(n for n in dict.fromkeys(sym_cal) if n != ALWAYS_OPEN)]
    cal_pos = {name: k for k, name in enumerate(cal_names)}
    per_symbol = np.array([cal_pos[c] for c in sym_cal], dtype=np.int64)
    pair_cal = per_symbol[symbol_of] if len(per_symbol) else np.zeros(0, dtype=np.int64)
    return _Layout(keys, symbols, symbol_of, tf_ns, sym_cal, cal_names, pair_cal)


# The last (layout, placement) -> (by_index, index): a board loaded again with its pairs in the
# same places (every cold load of the shared board) reuses them instead of 2 x n Python steps.
_placements: dict[int, tuple[_Layout, npt.NDArray[np.uint32], int, list[Any], dict[Any, int]]] = {}


def index_board(
    board: EscalationBoard,
    version: int,
    pairs: Sequence[tuple[str, str]],
    freshness: Freshness,
    calendars: Mapping[str, str] | None = None,
) -> BoardCache:
    """``board`` with the watchlist's ``pairs`` registered (and their ``calendars``), as a
    cache at ``version``. One native call registers the pairs (idempotent: new pairs added, a
    pair whose calendar the watchlist changed moved); what the watchlist means is computed
    once per watchlist."""
    lay = _layout(tuple((s, tf) for s, tf in pairs), tuple(sorted((calendars or {}).items())))
    placed = board.place_pairs(lay.symbols, lay.symbol_of, lay.tf_ns, lay.sym_cal)
    n = len(board)
    sym_idx = np.full(n, len(lay.symbols), dtype=np.int64)
    sym_idx[placed] = lay.symbol_of
    tf_ns = np.zeros(n, dtype=np.int64)
    tf_ns[placed] = lay.tf_ns
    cal_idx = np.zeros(n, dtype=np.int64)  # a pair the watchlist no longer has: 24/7 as far as we know
    cal_idx[placed] = lay.pair_cal
    last = _placements.get(id(lay))
    if last is not None and last[0] is lay and last[2] == n and np.array_equal(last[1], placed):
        by_index, index = last[3], last[4]
    else:
        by_index = [None] * n
        for i, key in zip(placed.tolist(), lay.keys, strict=True):
            by_index[i] = key
        index = dict(zip(lay.keys, placed.tolist(), strict=True))
        _placements.clear()
        _placements[id(lay)] = (lay, placed, n, by_index, index)
    return BoardCache(
        version, board, by_index, lay.symbols, sym_idx, tf_ns, index, freshness, cal_idx, lay.cal_names
    )


def load_board(rt: Runtime) -> BoardCache:
    """The shared board (call with the board lock held): this process's cached copy when
    the shared version did not move, else the shared document, else a fresh board."""
    state = rt.state
    raw_version = state.client.get(state.key("board", "version"))
    version = int(raw_version) if raw_version is not None else 0
    cache = rt.board_cache
    if cache is not None and cache.version == version and raw_version is not None:
        return cache
    want = rt.settings.breaker_auto_close_cycles
    raw_doc = state.client.get(state.key("board"))
    if raw_doc is None:
        board = new_board(want)
        freshness = Freshness()
    else:
        board = decode_board(raw_doc)
        cfg = board.config()
        if cfg["auto_close_cycles"] != want:
            # BREAKER_AUTO_CLOSE_CYCLES changed since the board was created: keep the state,
            # take the setting.
            board.set_auto_close_cycles(want)
        freshness = _freshness(cfg["freshness"])
    cache = index_board(board, version, rt.watchlist.pairs(), freshness, rt.watchlist.calendars())
    rt.board_cache = cache
    return cache


def decode_board(raw: bytes | str) -> EscalationBoard:
    """The shared board from what Redis holds: the binary snapshot, or the JSON document a
    deployment from before the snapshots left (read once; the next save writes the
    snapshot). A damaged value raises ValueError naming what is wrong."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if data[:1] == b"{":
        return EscalationBoard.from_json(data.decode())
    return EscalationBoard.from_bytes(data)


def _freshness(cfg: Mapping[str, Any]) -> Freshness:
    fr = Freshness(float(cfg["amber_mult"]), float(cfg["red_mult"]))
    for o in cfg.get("overrides", []):
        fr.set_override(int(o["tf_ns"]), int(o["amber_after_ns"]), int(o["red_after_ns"]))
    return fr


def event_json(event: EventDoc) -> str:
    """A board event as the JSON the pending-events list holds."""
    return json.dumps(event_doc(event), default=str)


def save_board(
    rt: Runtime,
    cache: BoardCache,
    *,
    consumed_failures: int = 0,
    events: Sequence[EventDoc] = (),
    colour_codes: npt.NDArray[np.uint8] | None = None,
    eval_ns: int | None = None,
    last_errors: Mapping[tuple[str, str], tuple[int, str]] | None = None,
) -> None:
    """Store the board and what goes with it in one transaction: the document and its
    version, the failures it consumed removed, its events appended to the pending list, the
    open-breaker set updated, the colours and time of the evaluation, the last errors.

    Fenced by the version: when the shared board moved since ``cache`` was loaded (another
    evaluation ran because this one outlived its lock), nothing is written and
    :class:`BoardConflictError` is raised -- the later writer must not overwrite a newer board or
    trim failures it never applied."""
    state = rt.state
    snapshot = cache.board.to_bytes()
    version_key = state.key("board", "version")
    pipe: Pipeline = state.client.pipeline(transaction=True)
    pipe.watch(version_key)  # type: ignore[no-untyped-call]
    raw = pipe.get(version_key)
    if (int(raw) if raw is not None else 0) != cache.version:
        pipe.reset()
        raise BoardConflictError(f"the shared board moved to version {raw!r} since {cache.version}")
    pipe.multi()
    pipe.set(state.key("board"), snapshot)
    pipe.incr(state.key("board", "version"))
    if consumed_failures:
        pipe.ltrim(state.key("failures"), consumed_failures, -1)
    if events:
        pipe.rpush(state.key("events"), *[event_json(e) for e in events])
    for e in events:
        member = pair_field(e["symbol"], e["timeframe"])
        if e["kind"] == "breaker_open":
            pipe.sadd(state.key("breakers"), member)
        elif e["kind"] == "breaker_close":
            pipe.srem(state.key("breakers"), member)
    if colour_codes is not None:
        pipe.set(state.key("colours"), colour_codes.tobytes())
    if eval_ns is not None:
        pipe.set(state.key("eval_ns"), str(eval_ns))
    if last_errors:
        pipe.hset(
            state.key("last_error"),
            mapping={pair_field(*p): f"{at}|{code}" for p, (at, code) in last_errors.items()},
        )
    try:
        results = pipe.execute()
    except WatchError:
        raise BoardConflictError("the shared board moved while this evaluation saved it") from None
    cache.version = int(results[1])


__all__ = [
    "BoardCache",
    "BoardConflictError",
    "event_json",
    "index_board",
    "load_board",
    "new_board",
    "save_board",
]
