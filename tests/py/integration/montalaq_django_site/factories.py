"""``SERVICE_FACTORY`` callables of the Django tests: the bundled SPY day replayed through a
real service (the helpers of test_service / api_fixtures), on the settings Django gives."""

from __future__ import annotations

from api_fixtures import spy_trades
from test_service import NS, SESSION_OFFSET_S, T1330, replay

from montalaq.feeds import ReplayProvider
from montalaq.service import Service
from montalaq.settings import Settings

STEPPED_MINUTES = 40
END_NS = T1330 + STEPPED_MINUTES * 60 * NS  # the fixed "now" of the stepped service


def stepped(settings: Settings) -> Service:
    """SPY from 13:30 at the file's own times, for a test to step; the clock stays at
    ``END_NS`` so that a Django and a FastAPI answer computed a moment apart agree."""
    return Service(settings, providers={"SPY": replay(spy_trades())}, clock=lambda: END_NS)


def accelerated(settings: Settings) -> Service:
    """SPY from 13:30 replayed 600 times faster than real time (ten minutes a second) for
    the scheduler (``RUN_SCHEDULER``, ``montalaq_run``); the service runs on the feed's clock."""
    feed = ReplayProvider(
        spy_trades(), name="AllTick", start_offset_s=SESSION_OFFSET_S, start_ns=T1330, speed=600
    )
    return Service(settings, providers={"SPY": feed}, clock=feed.clock)


def not_a_service(_settings: Settings) -> object:
    """A broken factory (the error names SERVICE_FACTORY)."""
    return {"not": "a service"}
