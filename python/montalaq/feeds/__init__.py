"""Trade feeds (providers) for the service: the protocols, what they deliver, a replay of
trade files, a seeded random walk and a feed host code pushes into (docs/semantics.md,
"Feeds"; docs/feeds.md for the live clients and writing your own)::

    feed = ReplayProvider(speed=60)                   # the bundled SPY sample, 60x
    svc = Service(settings, providers={"SPY": feed}, clock=feed.clock)
"""

from __future__ import annotations

from montalaq.feeds.batches import Batch, QuoteBatch, TradeBatch
from montalaq.feeds.protocols import Provider, PullProvider
from montalaq.feeds.push import PushFeed
from montalaq.feeds.replay import ReplayProvider
from montalaq.feeds.simulated import SimulatedProvider

__all__ = [
    "Batch",
    "Provider",
    "PullProvider",
    "PushFeed",
    "QuoteBatch",
    "ReplayProvider",
    "SimulatedProvider",
    "TradeBatch",
]
