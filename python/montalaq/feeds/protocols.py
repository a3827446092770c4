"""The provider protocols: a feed of batches, and one the service can pull each cycle
(docs/semantics.md, "Feeds"; docs/feeds.md, "Your own feed" for writing one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Protocol, runtime_checkable

from montalaq.feeds.batches import Batch


@runtime_checkable
class Provider(Protocol):
    """A trade feed: ``name`` (e.g. "Binance", "AllTick", "TwelveData"), ``symbols`` served,
    and ``trades()`` -- an async iterator or an iterator of :class:`TradeBatch` (and
    :class:`QuoteBatch`) es. See docs/feeds.md for writing one."""

    name: str

    @property
    def symbols(self) -> Sequence[str]:
        """Symbols this provider delivers."""
        ...

    def trades(self) -> AsyncIterator[Batch] | Iterator[Batch]:
        """The feed, batch by batch, for as long as it lasts."""
        ...


@runtime_checkable
class PullProvider(Provider, Protocol):
    """A provider the service can pull synchronously each cycle."""

    def take_until(self, until_ns: int) -> Sequence[Batch]:
        """Every trade (and quote) not yet delivered with a timestamp <= ``until_ns`` (int ns)."""
        ...


__all__ = ["Provider", "PullProvider"]
