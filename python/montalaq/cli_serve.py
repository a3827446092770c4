"""``montalaq serve``: the API, the dashboard and the scheduler in one process.

Runs :func:`montalaq.api.create_app` under uvicorn (one worker) on settings from the
environment, prints one line with the URL (and a per-run token in its fragment) to stdout,
and stops cleanly on SIGTERM/SIGINT. Options, the URL line, replays, stopping and exit
codes: docs/semantics.md, "`montalaq serve`"; running it: docs/operations.md, "The server".
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import signal
import sys
import time
import zlib
from pathlib import Path
from types import FrameType
from typing import Any

from montalaq._optional import MissingDependencyError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
URL_PREFIX = "montalaq serve: "


def _fail(message: str, code: int) -> int:
    print(f"montalaq serve: {message}", file=sys.stderr, flush=True)
    return code


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _feeds(args: argparse.Namespace, settings: Any) -> tuple[Any, Any, Any]:
    """``(settings, providers or None, clock or None)`` for the options; ValueError,
    FileNotFoundError for bad ones."""
    from montalaq.feeds import ReplayProvider, SimulatedProvider
    from montalaq.sample import BACKFILL_S, SAMPLES, SESSION_OFFSET_S, sample_path

    speed = float(args.speed)
    loop = not args.no_loop
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        if not symbols:
            raise ValueError(
                f"--symbols: expected a comma list such as BTCUSDT,ETHUSDT, got {args.symbols!r}"
            )
        settings = settings.model_copy(update={"symbol": symbols})
    if args.provider is not None:
        settings = settings.model_copy(update={"provider": args.provider})
    if settings.provider in ("binance", "twelvedata", "alltick"):
        from montalaq.providers import providers_from_settings

        # Built here so that a missing key is a usage error (exit 2), not a failed start.
        return settings, providers_from_settings(settings), None
    if args.replay is None and speed == 1.0 and loop:
        return settings, None, None  # the service's own defaults: samples in real time, looping
    providers: dict[str, ReplayProvider | SimulatedProvider] = {}
    if args.replay is not None:
        symbol, provider = _replay_file(args, speed, loop)
        settings = settings.model_copy(update={"symbol": [symbol]})
        providers[symbol] = provider
    else:
        for symbol in dict.fromkeys(settings.symbol):
            key = symbol.lower()
            if key in SAMPLES and settings.provider != "simulated":
                providers[symbol] = ReplayProvider(
                    sample_path(key),
                    symbol=symbol,
                    speed=speed,
                    loop=loop,
                    start_offset_s=SESSION_OFFSET_S.get(key, 0.0),
                    backfill_s=BACKFILL_S.get(key, 0.0),
                )
            else:
                providers[symbol] = SimulatedProvider(symbol, seed=zlib.crc32(symbol.encode()), speed=speed)
    wall0 = time.time_ns()
    for p in providers.values():
        p.start(wall0)  # one start for every virtual clock: they agree
    clock = None if speed == 1.0 else next(iter(providers.values())).clock
    return settings, providers, clock


def _replay_file(args: argparse.Namespace, speed: float, loop: bool) -> tuple[str, Any]:
    """``(symbol, ReplayProvider)`` for ``--replay FILE`` (and ``--symbol`` when it holds several)."""
    from montalaq import read_trades
    from montalaq.feeds import ReplayProvider

    parts = list(read_trades(args.replay).by_symbol())
    if args.symbol is not None and len(parts) > 1:
        chosen = [p for p in parts if p.symbol == args.symbol]
        if not chosen:
            raise ValueError(
                f"--symbol: {args.symbol!r} is not in {args.replay}; it has {[p.symbol for p in parts]}"
            )
        part = chosen[0]
    elif len(parts) > 1:
        raise ValueError(
            f"--symbol: {args.replay} has several symbols {[p.symbol for p in parts]}; choose one"
        )
    else:
        part = parts[0]
    symbol = args.symbol or part.symbol
    if not symbol:
        raise ValueError(f"--symbol: {args.replay} names no symbol; give one with --symbol")
    return symbol, ReplayProvider(
        part, symbol=symbol, speed=speed, loop=loop, source_label=Path(args.replay).name
    )


def _options_problem(args: argparse.Namespace, host: str, port: int) -> str | None:
    live = args.provider in ("binance", "twelvedata", "alltick")
    checks = (
        (not host, "--host: expected a host name or address, got ''"),
        (not 0 <= port <= 65535, f"--port: expected 0..65535 (0: any free port), got {port}"),
        (
            not math.isfinite(args.speed) or args.speed <= 0,
            f"--speed: expected a factor > 0 (1 = real time), got {args.speed}",
        ),
        (args.symbol is not None and args.replay is None, "--symbol: only with --replay FILE"),
        (
            live and args.replay is not None,
            "--provider: a live provider and --replay FILE exclude each other",
        ),
        (
            live and (args.speed != 1.0 or args.no_loop),
            "--speed/--no-loop: only for replays and simulations, not for a live provider",
        ),
        (
            args.symbols is not None and args.replay is not None,
            "--symbols: not with --replay FILE (use --symbol)",
        ),
    )
    return next((message for failed, message in checks if failed), None)


class _UTCFormatter(logging.Formatter):
    """``2026-12-07T15:20:01.123Z LEVEL logger: message`` (UTC, milliseconds)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _configure_logging() -> None:
    """serve is an application: its log lines go to stderr with UTC timestamps, at
    ``LOG_LEVEL`` (default INFO) for montalaq's loggers, WARNING for the others."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.getLogger("montalaq").setLevel(level if level in logging.getLevelNamesMapping() else "INFO")


def _sqlite_lock(settings: Any) -> Any:
    """On SQLite, an exclusive lock beside the database file for this process's lifetime
    (the open file, kept by the caller), or a message when another ``montalaq serve``
    holds it: two schedulers on one board and one outbox would double every notification
    (regression: the second one started without a word). None on PostgreSQL."""
    import fcntl

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url_value)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".serve.lock")
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        return (
            f"another montalaq serve (pid {holder}) is using {path}; stop it, or give this one "
            "its own database (MONTALAQ_DB_PATH or DATABASE_URL)"
        )
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _serve(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per failure, each its own code
    from montalaq.settings import Settings, SettingsError

    _configure_logging()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    host = settings.api_host if args.host is None else args.host
    port = settings.api_port if args.port is None else args.port
    problem = _options_problem(args, host, port)
    if problem is not None:
        return _fail(problem, EXIT_USAGE)
    try:
        from montalaq.api import build_service, close_service
    except MissingDependencyError as exc:  # its message names the extra to install
        return _fail(str(exc), EXIT_FAILED)
    except ImportError as exc:
        return _fail(f"cannot import montalaq.api: {exc}", EXIT_FAILED)
    try:
        settings, providers, clock = _feeds(args, settings)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    lock = _sqlite_lock(settings)
    if isinstance(lock, str):
        return _fail(lock, EXIT_FAILED)
    try:
        service = build_service(settings, providers=providers, clock=clock)
    except Exception as exc:
        return _fail(f"cannot start the service: {type(exc).__name__}: {exc}", EXIT_FAILED)
    try:
        return _run(service, settings, host, port)
    finally:
        close_service(service)


def _run(service: Any, settings: Any, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM (docs/semantics.md, "`montalaq serve`")."""
    # An unreachable database is not a reason to exit (a restart policy would make that a
    # crash loop): the server answers at once, /health says WAITING until the lifecycle's
    # re-checks find the database (docs/semantics.md, "Lifecycle at run time").
    import uvicorn

    from montalaq.api.app import LOOPBACK_HOSTS, create_app

    configured = settings.api_token.get_secret_value() if settings.api_token is not None else ""
    token = configured or secrets.token_urlsafe(24)
    fragment = "" if configured else f"#token={token}"
    # Bound to loopback: only loopback Host names (a DNS-rebinding page cannot read the API).
    loopback = host in ("127.0.0.1", "localhost", "::1", "[::1]") or host.startswith("127.")
    app = create_app(
        settings, service=service, token=token, allowed_hosts=LOOPBACK_HOSTS if loopback else None
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_level="warning",
        log_config=None,  # uvicorn's records go through our handler (timestamps)
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                bound_port = self.servers[0].sockets[0].getsockname()[1]
                base = f"http://{_url_host(host)}:{bound_port}/"
                print(f"{URL_PREFIX}{base}{fragment}", flush=True)
                print(
                    f"montalaq serve: dashboard {base}, API docs {base}api/docs, "
                    f"symbols {', '.join(service.symbols)}; SIGINT/SIGTERM stops",
                    file=sys.stderr,
                    flush=True,
                )

    server = Server(config)
    # The scheduler's cycle is Python work in another thread: with the default 5 ms switch
    # interval, a request waiting for the GIL behind it waits up to 5 ms per hand-over,
    # which is what pushed the cached route's p99 past 20 ms (docs/operations.md). 1 ms
    # hands the event loop the GIL sooner at a small cost to the cycle.
    sys.setswitchinterval(0.001)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # Ours while uvicorn is not listening yet, and where the signals it handled land
        # when it re-raises them after its shutdown: a request to stop, nothing more.
        server.should_exit = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    except SystemExit:  # uvicorn exits (3) when it cannot listen or start the app
        # Exit 1 as documented (regression: a taken port exited 3).
        return _fail(f"could not serve on {host}:{port} (see the error above)", EXIT_FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Register ``serve`` on the ``montalaq`` sub-parsers."""
    sp = sub.add_parser("serve", help="HTTP API + dashboard + scheduler on the embedded defaults")
    sp.add_argument("--host", help="address to bind (default API_HOST, 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default API_PORT, 8000; 0: any free port)")
    sp.add_argument("--replay", metavar="FILE", help="replay this trade file instead of the bundled samples")
    sp.add_argument("--symbol", help="the symbol of --replay FILE to serve (needed when it has several)")
    sp.add_argument(
        "--speed", type=float, default=1.0, help="replay speed, virtual seconds per wall second (default 1)"
    )
    sp.add_argument("--no-loop", action="store_true", help="play the feed(s) once instead of looping")
    sp.add_argument(
        "--provider",
        choices=("binance", "twelvedata", "alltick", "replay", "simulated"),
        help="where trades come from (default PROVIDER; unset: the bundled samples); see docs/feeds.md",
    )
    sp.add_argument("--symbols", help="comma list of symbols to serve (default SYMBOL), e.g. BTCUSDT,ETHUSDT")
    sp.set_defaults(func=_serve)


__all__ = ["add_parsers"]
