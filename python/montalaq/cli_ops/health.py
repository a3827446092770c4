"""``montalaq health``: the built-in start-up checks and the user's ``--checks`` run once,
without retries; exit 1 on any failure (docs/operations.md, "Start-up, WAITING and
shutdown")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from montalaq import cli_table as ct
from montalaq.cli_ops.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def load_checks(spec: str) -> list[Any]:
    """``package.module:NAME`` -> the user's checks (a list of StartupCheck, or a mapping
    name -> callable, or a callable returning either)."""
    import importlib

    from montalaq.lifecycle import StartupCheck

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--checks: expected package.module:NAME, got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--checks: cannot load {spec!r}: {exc}") from None
    if callable(obj) and not isinstance(obj, StartupCheck):
        obj = obj()
    if isinstance(obj, dict):
        return [StartupCheck(str(k), v) for k, v in obj.items()]
    items = list(obj)
    if not all(isinstance(c, StartupCheck) for c in items):
        raise ValueError(f"--checks: {spec!r} must be StartupCheck objects or a mapping name -> callable")
    return items


def run(args: argparse.Namespace) -> int:
    """Run the checks once each, print their results (or ``--json``)."""
    from rich.markup import escape
    from sqlalchemy.engine import make_url

    from montalaq.lifecycle import CheckResult, StartupCheck, builtin_checks, run_check
    from montalaq.settings import Settings, SettingsError
    from montalaq.store import Store

    try:
        settings = Settings.from_env()
        extra = load_checks(args.checks) if args.checks else []
        url = args.url or settings.database_url_value
        parsed = make_url(url)
    except (SettingsError, ValueError) as exc:
        print(f"montalaq health: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = None
    checks: list[Any] = []
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        missing = f"no database file at {parsed.database}: run `montalaq db upgrade`"
        checks.append(StartupCheck("database", lambda: CheckResult.permanent(missing)))
    else:
        store = Store(url, auto_migrate=False)
    try:
        checks += builtin_checks(settings, store) + extra
        results = [(c.name, run_check(c, timeout_s=args.timeout)) for c in checks]
    finally:
        if store is not None:
            store.close()
    failed = [name for name, r in results if not r.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": {name: r.to_dict() for name, r in results}}, indent=2))
        return EXIT_FAILED if failed else EXIT_OK
    out = ct.console()
    t = ct.table("health checks", ct.Col("check", 20), "result", "kind", ct.Col("detail", 32, wrap=True))
    for name, r in results:
        verdict = "[green]ok[/]" if r.ok else "[bold red]FAILED[/]"
        kind = "" if r.kind is None else r.kind.name
        t.add_row(escape(name), verdict, kind, escape(r.detail))
    out.print(t)
    return EXIT_FAILED if failed else EXIT_OK


__all__ = ["run"]
