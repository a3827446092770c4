"""montalaq.django (issue 8): the Django app over a real service replaying the bundled SPY
day, through Django's test client (sync and async), a real WSGI server on loopback and real
``python -m django`` subprocesses; montalaq's database is Django's own (a SQLite file per
module, and a PostgreSQL database per module on 127.0.0.1:5432, created and dropped).

Every endpoint of docs/semantics.md, HTTP API (and /api/bars, the docs, the dashboard and its files) is
compared with the FastAPI router's answer over the same service, mounted at the same prefix:
same status, same headers, same body. Then: parameter errors, the token and CSRF, settings
from ``settings.MONTALAQ`` over the environment (errors naming the key), the database taken
from ``DATABASES``, the lazy once-per-process service, ``RUN_SCHEDULER``, and the
management commands ``montalaq_db``, ``montalaq_health``, ``montalaq_run``.

Django is configured once per test process (django_support).
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from api_fixtures import AUTH, TOKEN, client_for, spy_trades, walk
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django_support import (
    PG,
    django_settings_for,
    hermetic_environment,  # noqa: F401  (autouse)
    manage,
    manage_env,
    montalaq_settings,
    pg_databases,
    sqlite_databases,
)
from montalaq_django_site import factories
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from store_fixtures import create_pg_database, drop_pg_database
from test_service import ENV, HOLE_START, NS, T1330, drive, gap_run

from montalaq.django import conf, runtime
from montalaq.service import Service
from montalaq.settings import Settings
from montalaq.store import Store
from montalaq.store import migrate as store_migrate

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    import httpx2  # what starlette's TestClient answers with (httpx's successor)
    from starlette.testclient import TestClient

PREFIX = "/montalaq"
# Headers the two stacks add on their own (Django's middleware adds more; those are ignored).
_NOT_COMPARED = {"date", "server", "x-cache"}


# ------------------------------------------------------------------------------ the site


@dataclass
class Site:
    """A stepped service over a Django database, the Django client and the FastAPI twin."""

    backend: str
    service: Service
    url: str  # montalaq's database URL, as derived from DATABASES
    fastapi: TestClient  # the FastAPI router over the same service, at PREFIX
    app: Any = None  # the ASGI app the Django views serve (see the ``dj`` fixture)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """SPY 13:30-14:10 stepped in 30 s cycles through a service built from the Django
    settings (SERVICE_FACTORY) over Django's default database: a SQLite file of this
    module, or a PostgreSQL database created for this module and dropped after."""
    tmp = tmp_path_factory.mktemp(f"django-{request.param}")
    pg_name = create_pg_database() if request.param == "postgresql" else None
    databases = sqlite_databases(tmp / "project.sqlite3") if pg_name is None else pg_databases(pg_name)
    service: Service | None = None
    try:
        with django_settings_for(
            DATABASES=databases, MONTALAQ=montalaq_settings(tmp, SERVICE_FACTORY=factories.stepped)
        ):
            loaded = conf.load()
            service = runtime.service_from_conf(loaded)
        drive(service, T1330 + 30 * NS, factories.END_NS)
        yield Site(request.param, service, loaded.settings.database_url_value, client_for(service, PREFIX))
    finally:
        runtime.reset_service()
        if service is not None:
            service.close()
            service.store.close()
        if pg_name is not None:
            drop_pg_database(pg_name)


@pytest.fixture
def dj(site: Site) -> Client:
    """Django's test client, the views serving ``site.service`` (installed again when a
    test before this one served another service)."""
    if site.app is None or runtime.current_app() is not site.app:
        runtime.install_service(site.service, token=TOKEN)
        site.app = runtime.current_app()
    return Client(raise_request_exception=False)


def fastapi_headers(response: httpx2.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in _NOT_COMPARED}


def same_answer(
    site: Site, dj: Client, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[HttpResponse, httpx2.Response]:
    """The answer of ``method PREFIX+path`` through Django and through FastAPI: same
    status, every FastAPI header with the same value, same JSON (or the same bytes)."""
    d = dj.generic(method, PREFIX + path, headers=headers)
    f = site.fastapi.request(method, PREFIX + path, headers=headers)
    assert d.status_code == f.status_code, (path, d.content[:300], f.text[:300])
    for name, value in fastapi_headers(f).items():
        assert d.get(name) == value, (path, name)
    if f.headers.get("content-type", "").startswith("application/json"):
        assert json.loads(d.content) == f.json(), path
    else:
        assert d.content == f.content, path
    return d, f


def body(response: HttpResponse) -> Any:
    return json.loads(response.content)


def test_the_service_was_built_on_the_django_database(site: Site) -> None:
    if site.backend == "sqlite":
        assert site.url.startswith("sqlite:////")
        assert site.url.endswith("/project.sqlite3")
    else:
        url = make_url(site.url)
        assert (url.drivername, url.host) == ("postgresql+psycopg", PG.host)
        assert str(url.database).startswith("montalaq_test_")
    assert site.service.store.url == site.url
    tables = set(inspect(site.service.store.engine).get_table_names())
    assert {"findings", "trade_analysis", "ingestion_status", "alembic_version"} <= tables


GETS = [
    "/health",
    "/livez",
    "/api/alerts",
    "/api/errors/summary",
    "/db-health",
    "/agents",
    "/findings",
    "/findings?symbol=SPY&limit=3",
    "/signals?symbol=SPY",
    "/signals_tf?symbol=SPY",
    "/debug/state?symbol=SPY",
    "/debug/features?symbol=SPY",
    "/api/analysis/latest?pair=SPY&tf=1m",
    "/api/analysis/latest?pair=SPY&tf=60s",
    "/api/analysis/history?pair=SPY&tf=5m&limit=3",
    "/api/ingestion/status",
    "/api/bars?symbol=SPY&tf=1m&limit=30",
    "/api/bars?symbol=SPY&tf=15m",
    "/api/docs",
    "/api/docs/assets/swagger-ui.css",
    "/",
    "/?refresh=5",
    "/static/app.js",
    "/static/style.css",
    "/static/favicon.svg",
]


@pytest.mark.parametrize("path", GETS)
def test_a_get_answers_through_django_as_through_fastapi(site: Site, dj: Client, path: str) -> None:
    d, _ = same_answer(site, dj, "GET", path)
    assert d.status_code == 200
    assert d.content.strip() not in (b"", b"{}", b"[]", b"null")  # a real answer, not an empty shell


def test_the_answers_are_those_of_the_stepped_market(site: Site, dj: Client) -> None:
    health = body(dj.get(f"{PREFIX}/health"))
    assert health["trades_cached"]["SPY"] == site.service.engine.trades_cached("SPY") > 0
    bars = body(dj.get(f"{PREFIX}/api/bars?symbol=SPY&tf=1m&limit=30"))["bars"]
    assert len(bars) == 30
    latest = body(dj.get(f"{PREFIX}/api/analysis/latest?pair=SPY&tf=1m"))
    stored = site.service.latest_analysis("SPY", "1m")
    assert stored is not None
    assert latest == stored.to_dict()
    assert latest["bar_ts"].startswith("2013-10-07T14:0")
    for where, value in walk(body(dj.get(f"{PREFIX}/debug/features?symbol=SPY"))):
        assert not (isinstance(value, float) and value != value), where  # no NaN leaks out


def test_the_schema_is_the_routers_with_the_prefix_as_server(site: Site, dj: Client) -> None:
    d = body(dj.get(f"{PREFIX}/api/schema"))
    f = site.fastapi.get(f"{PREFIX}/api/schema").json()
    assert d.pop("servers") == [{"url": PREFIX}]
    assert {PREFIX + path: item for path, item in d.pop("paths").items()} == f.pop("paths")
    assert d == f


def test_every_get_operation_of_the_schema_answers_through_django(site: Site, dj: Client) -> None:
    doc = body(dj.get(f"{PREFIX}/api/schema"))
    base = doc["servers"][0]["url"]
    answered = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        query = "&".join(
            f"{p['name']}={p['schema'].get('enum', ['1m'])[0]}"
            for p in op.get("parameters", [])
            if p.get("required")
        )
        r = dj.get(f"{base}{path}?{query}" if query else f"{base}{path}")
        assert r.status_code == 200, (path, r.content[:200])
        answered.append(path)
    # Every GET operation of the HTTP contract (docs/operations.md), /api/bars and /metrics.
    assert len(answered) == 17


def test_metrics_have_the_routers_families_and_count_the_django_requests(site: Site, dj: Client) -> None:
    assert dj.get(f"{PREFIX}/health").status_code == 200
    d = dj.get(f"{PREFIX}/metrics")
    f = site.fastapi.get(f"{PREFIX}/metrics")
    assert d.status_code == f.status_code == 200
    assert d["Content-Type"] == f.headers["content-type"]
    d_families = {m.name: m for m in text_string_to_metric_families(d.content.decode())}
    f_families = {m.name: m for m in text_string_to_metric_families(f.text)}
    assert set(d_families) == set(f_families)
    counted = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in d_families["montalaq_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert counted[("/health", "GET", "200")] >= 1
    trades = {s.labels["symbol"]: s.value for s in d_families["montalaq_trades_cached"].samples}
    assert trades == {"SPY": site.service.engine.trades_cached("SPY")}


def test_the_analysis_cache_answers_through_django(dj: Client) -> None:
    path = f"{PREFIX}/api/analysis/history?pair=SPY&tf=15m&limit=7"
    first, second = dj.get(path), dj.get(path)
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert first.content == second.content


# ------------------------------------------------------------------------------ POST, token, CSRF


def test_run_now_without_insert_answers_as_through_fastapi(site: Site, dj: Client) -> None:
    path = f"{PREFIX}/agents/run-now?names=trend_score&symbol=SPY&insert=false"
    d = dj.post(path, headers=AUTH)
    f = site.fastapi.post(path, headers=AUTH)
    assert d.status_code == f.status_code == 200
    got, expected = body(d), f.json()
    for out in (got, expected):
        for finding in out["findings"]:
            finding.pop("correlation_id")  # one per run
    assert got == expected
    assert (got["agents"], got["symbols"], got["insert"]) == (["trend_score"], ["SPY"], False)
    assert len(got["findings"]) == 1


def test_run_now_with_insert_stores_the_findings_that_findings_then_shows(site: Site, dj: Client) -> None:
    before = len(site.service.latest_findings(None, 1000))
    r = dj.post(f"{PREFIX}/agents/run-now?names=rvol_spike,trend_score", headers=AUTH)
    assert r.status_code == 200
    made = body(r)["findings"]
    assert len(made) >= 1  # trend_score always finds; rvol_spike only on a volume spike
    assert all(isinstance(f["id"], int) for f in made)
    assert len(site.service.latest_findings(None, 1000)) == before + len(made)
    same_answer(site, dj, "GET", f"/findings?limit={len(made)}")
    shown = body(dj.get(f"{PREFIX}/findings?limit={len(made)}"))["findings"]
    assert {f["id"] for f in shown} == {f["id"] for f in made}


def test_closing_a_closed_breaker_answers_as_through_fastapi(site: Site, dj: Client) -> None:
    d, _ = same_answer(site, dj, "POST", "/api/breakers/SPY/5m/close", headers=AUTH)
    assert body(d) == {
        "symbol": "SPY",
        "timeframe": "5m",
        "closed": False,
        "breaker_open": False,
        "event": None,
    }


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/agents/run-now", None),
        ("/agents/run-now", {"Authorization": "Bearer not-the-token"}),
        ("/agents/run-now", {"Authorization": "Basic dXNlcjpwdw=="}),
        ("/api/breakers/SPY/1m/close", None),
        ("/agents/run-now?names=nope", None),  # the token is checked before the parameters
    ],
)
def test_a_post_without_the_token_is_401_as_through_fastapi(
    site: Site, dj: Client, path: str, headers: dict[str, str] | None
) -> None:
    d, _ = same_answer(site, dj, "POST", path, headers=headers)
    assert d.status_code == 401
    assert d["WWW-Authenticate"].startswith("Bearer")
    assert body(d)["detail"].startswith("Authorization:")


def test_a_post_with_the_token_needs_no_csrf_token(dj: Client) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/host-ping").status_code == 403  # CSRF is enforced on the host's views
    r = strict.post(f"{PREFIX}/api/breakers/SPY/15m/close", headers=AUTH)
    assert r.status_code == 200
    assert body(r)["timeframe"] == "15m"


def test_posts_are_403_when_no_token_is_configured(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'no-token.db'}") as store:
        service = Service(Settings.from_env(ENV), store=store, providers={})
        assert service.settings.api_token is None
        runtime.install_service(service)
        try:
            r = Client().post(f"{PREFIX}/agents/run-now", headers=AUTH)
            assert r.status_code == 403
            assert "API_TOKEN" in body(r)["detail"]
        finally:
            runtime.reset_service()


# ------------------------------------------------------------------------------ errors


BAD = [
    ("/signals", "symbol"),
    ("/signals?symbol=QQQ", "symbol"),
    ("/signals?symbol=%F0%9F%92%A5", "symbol"),
    ("/findings?limit=abc", "limit"),
    ("/findings?limit=0", "limit"),
    ("/findings?limit=100000", "limit"),
    ("/findings?limt=5", "limt"),
    ("/api/analysis/latest?pair=SPY", "tf"),
    ("/api/analysis/latest?pair=SPY&tf=7x", "tf"),
    ("/api/analysis/latest?pair=SPY&tf=4h", "tf"),
    ("/api/analysis/history?tf=1m", "pair"),
    ("/api/bars?symbol=SPY&tf=1m&limit=-1", "limit"),
    ("/debug/state?symbol=spy", "symbol"),
]


@pytest.mark.parametrize(("path", "name"), BAD)
def test_a_bad_parameter_is_the_same_400_naming_it(site: Site, dj: Client, path: str, name: str) -> None:
    d, _ = same_answer(site, dj, "GET", path)
    assert d.status_code == 400
    assert body(d)["detail"].startswith(f"{name}:")


def test_a_bad_post_parameter_is_the_same_400_naming_it(site: Site, dj: Client) -> None:
    for path, name in [
        ("/agents/run-now?names=nope", "names"),
        ("/agents/run-now?insert=maybe", "insert"),
        ("/api/breakers/QQQ/1m/close", "symbol"),
        ("/api/breakers/SPY/4h/close", "tf"),
    ]:
        d, _ = same_answer(site, dj, "POST", path, headers=AUTH)
        assert d.status_code == 400
        assert body(d)["detail"].startswith(f"{name}:"), path


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("POST", "/health", 405),
        ("GET", "/static/.hidden", 404),
        ("GET", "/health/", 307),
    ],
)
def test_unknown_paths_methods_and_slashes_answer_as_through_fastapi(
    site: Site, dj: Client, method: str, path: str, status: int
) -> None:
    d, _ = same_answer(site, dj, method, path)
    assert d.status_code == status


def test_the_bare_prefix_redirects_to_the_dashboard(dj: Client) -> None:
    r = dj.get(PREFIX)
    assert (r.status_code, r["Location"]) == (301, f"{PREFIX}/")


def test_the_host_projects_own_views_are_untouched(dj: Client) -> None:
    assert body(dj.get("/host-ping")) == {"host": "yes"}
    assert dj.get("/health").status_code == 404  # only under the prefix


def test_reverse_builds_the_urls_of_the_endpoints(dj: Client) -> None:
    from django.urls import reverse

    assert reverse("montalaq:api", kwargs={"subpath": ""}) == f"{PREFIX}/"
    url = reverse("montalaq:api", kwargs={"subpath": "api/ingestion/status"})
    assert url == f"{PREFIX}/api/ingestion/status"
    assert dj.get(url).status_code == 200


def test_a_script_name_is_part_of_the_prefix(dj: Client) -> None:
    r = dj.get(f"{PREFIX}/api/schema", SCRIPT_NAME="/site")
    assert body(r)["servers"] == [{"url": f"/site{PREFIX}"}]


def test_the_async_client_gets_the_same_answers(site: Site, dj: Client) -> None:
    async def fetch() -> list[HttpResponse]:
        client = AsyncClient()
        return [
            await client.get(f"{PREFIX}/signals?symbol=SPY"),
            await client.get(f"{PREFIX}/findings?limit=abc"),
            await client.post(f"{PREFIX}/api/breakers/SPY/1m/close", headers=AUTH),
        ]

    signals, bad, close = asyncio.run(fetch())
    assert (signals.status_code, body(signals)) == (
        200,
        site.fastapi.get(f"{PREFIX}/signals?symbol=SPY").json(),
    )
    assert (bad.status_code, body(bad)) == (400, site.fastapi.get(f"{PREFIX}/findings?limit=abc").json())
    assert (close.status_code, body(close)["closed"]) == (200, False)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_real_wsgi_server_serves_the_endpoints(site: Site, dj: Client) -> None:
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}{PREFIX}"
        with httpx.Client(timeout=10) as http:
            health = http.get(f"{base}/health")
            assert (health.status_code, health.json()["symbols"]) == (200, ["SPY"])
            assert http.get(f"{base}/signals?symbol=SPY").json() == site.service.signals("SPY")
            assert http.post(f"{base}/agents/run-now?insert=false").status_code == 401
            run = http.post(f"{base}/agents/run-now?insert=false", headers=AUTH)
            assert (run.status_code, run.json()["insert"]) == (200, False)
            page = http.get(f"{base}/")
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_operator_closes_an_open_breaker_through_django(tmp_path: Path) -> None:
    run = gap_run(spy_trades(), tmp_path / "gap.db", until=HOLE_START)
    try:
        runtime.install_service(run.service, token=TOKEN)
        client = Client()
        assert client.post(f"{PREFIX}/api/breakers/SPY/1m/close").status_code == 401
        r = client.post(f"{PREFIX}/api/breakers/SPY/1m/close", headers=AUTH)
        out = body(r)
        assert (r.status_code, out["closed"], out["breaker_open"]) == (200, True, False)
        assert (out["event"]["kind"], out["event"]["old"], out["event"]["new"]) == (
            "breaker_close",
            "OPEN",
            "CLOSED",
        )
        pairs = {p["timeframe"]: p for p in body(client.get(f"{PREFIX}/api/ingestion/status"))["pairs"]}
        assert pairs["1m"]["breaker_open"] is False
        assert run.service.store.outbox.rows()[-1].payload["title"] == "SPY 1m: breaker closed"
    finally:
        runtime.reset_service()
        run.service.store.close()


# ------------------------------------------------------------------------------ settings


def load_with(montalaq: Any, **other: Any) -> conf.DjangoConf:
    with django_settings_for(MONTALAQ=montalaq, **other):
        return conf.load()


def test_montalaq_settings_are_merged_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYMBOL", "QQQ")
    monkeypatch.setenv("NOTIFY_RATE_LIMIT_PER_MIN", "7")
    loaded = load_with({"SYMBOL": ["SPY", "BTCUSDT"], "DATABASE_URL": f"sqlite:///{tmp_path}/m.db"})
    assert loaded.settings.symbol == ["SPY", "BTCUSDT"]  # the dict wins
    assert loaded.settings.notify_rate_limit_per_min == 7  # the environment fills the rest
    assert loaded.database_source == "settings.MONTALAQ"


def test_python_values_are_accepted_as_the_environments_strings_are(tmp_path: Path) -> None:
    loaded = load_with(
        {
            "symbol": "SPY,QQQ",  # keys in any case
            "NOTIFY_DRY_RUN": True,
            "ANALYSIS_API_CACHE_TTL": 5,
            "TIMEFRAMES": ("1m", "1h"),
            "MONTALAQ_DB_PATH": tmp_path / "own.db",
            "DATABASE_ALIAS": None,
            "RUN_SCHEDULER": "false",
            "TICK_SEC": "0.5",
        }
    )
    s = loaded.settings
    assert (s.symbol, s.notify_dry_run, s.analysis_api_cache_ttl, s.timeframes) == (
        ["SPY", "QQQ"],
        True,
        5.0,
        ["1m", "1h"],
    )
    assert s.database_url_value == f"sqlite:///{tmp_path / 'own.db'}"
    assert (loaded.database_source, loaded.run_scheduler, loaded.tick_s) == ("MONTALAQ_DB_PATH", False, 0.5)


def test_no_montalaq_setting_at_all_is_fine(tmp_path: Path) -> None:
    with django_settings_for(DATABASES=sqlite_databases(tmp_path / "p.sqlite3")):
        del django_settings.MONTALAQ
        loaded = conf.load()
    assert loaded.settings.symbol == ["SPY"]
    assert loaded.settings.api_token is None
    assert loaded.database_source == "DATABASES['default']"


@pytest.mark.parametrize(
    ("montalaq", "message"),
    [
        ({"NOTIFY_RATE_LIMIT_PER_MIN": "ten"}, "settings.MONTALAQ['NOTIFY_RATE_LIMIT_PER_MIN']: "),
        ({"TS_WEIGHTS": [1, 2]}, "settings.MONTALAQ['TS_WEIGHTS']: expected 5 comma-separated weights"),
        ({"TIMEFRAMES": "1m,7x"}, "settings.MONTALAQ['TIMEFRAMES']: "),
        ({"SYMBOL": []}, "settings.MONTALAQ['SYMBOL']: expected at least one symbol"),
        ({"NOTIFY_SLACK_ENABLED": True}, "NOTIFY_SLACK_WEBHOOK_URL: required when NOTIFY_SLACK_ENABLED=true"),
        ({"SYMBOLS": "SPY"}, "settings.MONTALAQ['SYMBOLS']: unknown setting (did you mean 'SYMBOL'?)"),
        ({"RUN_SCHEDULER": "maybe"}, "settings.MONTALAQ['RUN_SCHEDULER']: expected True or False"),
        ({"TICK_SEC": 0}, "settings.MONTALAQ['TICK_SEC']: expected seconds > 0"),
        ({"TICK_SEC": "nan"}, "settings.MONTALAQ['TICK_SEC']: expected seconds > 0"),
        (
            {"SERVICE_FACTORY": "no_such_module.factory"},
            "settings.MONTALAQ['SERVICE_FACTORY']: cannot import",
        ),
        ({"SERVICE_FACTORY": 42}, "settings.MONTALAQ['SERVICE_FACTORY']: expected a callable"),
        ({"DATABASE_ALIAS": "nope"}, "settings.MONTALAQ['DATABASE_ALIAS']: no Django database 'nope'"),
        ({"DATABASE_ALIAS": 3}, "settings.MONTALAQ['DATABASE_ALIAS']: expected a Django database alias"),
        ("SYMBOL=SPY", "settings.MONTALAQ: expected a dict"),
    ],
)
def test_a_bad_setting_is_improperly_configured_naming_the_key(montalaq: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_with(montalaq)
    assert message in str(info.value)


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_RATE_LIMIT_PER_MIN", "ten")
    with pytest.raises(ImproperlyConfigured, match=r"NOTIFY_RATE_LIMIT_PER_MIN: .*'ten'") as info:
        load_with({"SYMBOL": "SPY"})
    assert "settings.MONTALAQ['NOTIFY_RATE_LIMIT_PER_MIN']" not in str(info.value)


def test_a_secret_never_appears_in_a_settings_error() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_with({"DATABASE_URL": "mysql://trader:hunter2-pw@db.example/x", "API_TOKEN": "tok-s3cret"})
    assert "settings.MONTALAQ['DATABASE_URL']" in str(info.value)
    assert "hunter2-pw" not in str(info.value)
    assert "tok-s3cret" not in str(info.value)


def test_the_database_url_comes_first_from_montalaq_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    databases = sqlite_databases(tmp_path / "django.sqlite3")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    mine = load_with({"DATABASE_URL": f"sqlite:///{tmp_path}/mine.db"}, DATABASES=databases)
    assert mine.settings.database_url_value == f"sqlite:///{tmp_path}/mine.db"
    env = load_with({}, DATABASES=databases)
    assert (env.settings.database_url_value, env.database_source) == (
        f"sqlite:///{tmp_path}/env.db",
        "environment",
    )


def test_the_database_url_defaults_to_djangos_sqlite_file(tmp_path: Path) -> None:
    loaded = load_with({}, DATABASES=sqlite_databases(tmp_path / "django.sqlite3"))
    assert loaded.settings.database_url_value == f"sqlite:///{tmp_path / 'django.sqlite3'}"
    assert loaded.database_source == "DATABASES['default']"


def test_a_django_postgresql_database_becomes_a_psycopg_url_with_its_options() -> None:
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "trading": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "markets",
            "USER": "trader",
            "PASSWORD": "p@ss/w:rd",
            "HOST": "db.internal",
            "PORT": 6432,
            "OPTIONS": {"sslmode": "require", "application_name": "web", "pool": True, "isolation_level": 2},
        },
    }
    loaded = load_with({"DATABASE_ALIAS": "trading"}, DATABASES=databases)
    url = make_url(loaded.settings.database_url_value)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "trader",
        "p@ss/w:rd",
        "db.internal",
        6432,
        "markets",
    )
    assert dict(url.query) == {"sslmode": "require", "application_name": "web"}
    assert "p@ss" not in loaded.database_url_masked
    assert loaded.database_source == "DATABASES['trading']"


def test_a_database_that_cannot_be_shared_falls_back_to_montalaqs_own_file(tmp_path: Path) -> None:
    for databases in (
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": "file:memorydb_default?mode=memory&cache=shared",
            }
        },
        {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "x"}},
        {},
    ):
        loaded = load_with({"MONTALAQ_DB_PATH": str(tmp_path / "own.db")}, DATABASES=databases)
        assert loaded.settings.database_url_value == f"sqlite:///{tmp_path / 'own.db'}", databases
        assert loaded.database_source == "MONTALAQ_DB_PATH"


def test_an_alias_named_explicitly_that_cannot_be_shared_is_an_error() -> None:
    databases = {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "x"}}
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_ALIAS'\]: Django database 'default'"):
        load_with({"DATABASE_ALIAS": "default"}, DATABASES=databases)


def test_the_system_check_reports_bad_settings(tmp_path: Path) -> None:
    with django_settings_for(MONTALAQ={"NOTIFY_RATE_LIMIT_PER_MIN": "ten"}):
        errors = [e for e in checks.run_checks() if e.id == "montalaq.E001"]
        with pytest.raises(CommandError, match=r"montalaq\.E001"):
            call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    assert len(errors) == 1
    assert "settings.MONTALAQ['NOTIFY_RATE_LIMIT_PER_MIN']" in errors[0].msg
    with django_settings_for(DATABASES=sqlite_databases(tmp_path / "p.sqlite3"), MONTALAQ={"SYMBOL": "SPY"}):
        assert [e for e in checks.run_checks() if e.id.startswith("montalaq.")] == []


# ------------------------------------------------------------------------------ the service


@pytest.fixture
def own_db(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Django's DATABASES on a fresh SQLite file; the runtime is reset after the test."""
    runtime.reset_service()
    yield sqlite_databases(tmp_path / "project.sqlite3")
    runtime.reset_service()


def test_nothing_is_built_before_the_first_request(own_db: dict[str, Any], tmp_path: Path) -> None:
    with django_settings_for(DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path)):
        call_command("check", stdout=io.StringIO())
        assert runtime.current_app() is None
        assert not (tmp_path / "project.sqlite3").exists()
        r = Client().get(f"{PREFIX}/db-health")
        assert (r.status_code, body(r)) == (200, {"ok": True})
        assert body(Client().get(f"{PREFIX}/findings")) == {
            "findings": []
        }  # the first use migrates the empty db
        assert runtime.current_app() is not None
        service = runtime.get_service()
        assert service.store.url == f"sqlite:///{tmp_path / 'project.sqlite3'}"
        assert not service.running  # no scheduler in a web worker unless RUN_SCHEDULER
    with sqlite3.connect(tmp_path / "project.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"findings", "trade_analysis", "alembic_version"} <= tables


@pytest.mark.postgres
def test_the_first_request_builds_on_a_django_postgresql_database(tmp_path: Path) -> None:
    name = create_pg_database()
    runtime.reset_service()
    try:
        with django_settings_for(DATABASES=pg_databases(name), MONTALAQ=montalaq_settings(tmp_path)):
            r = Client().get(f"{PREFIX}/findings")
            assert (r.status_code, body(r)) == (200, {"findings": []})
            service = runtime.get_service()
            assert make_url(service.store.url).database == name
            assert store_migrate.current_revision(service.store.engine) == store_migrate.head_revision()
    finally:
        runtime.reset_service()
        drop_pg_database(name)


def test_changing_the_settings_drops_the_built_service(own_db: dict[str, Any], tmp_path: Path) -> None:
    with django_settings_for(DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path)):
        first = runtime.get_service()
        with django_settings_for(MONTALAQ=montalaq_settings(tmp_path, SYMBOL="BTCUSDT")):
            assert runtime.current_app() is None
            assert body(Client().get(f"{PREFIX}/health"))["symbols"] == ["BTCUSDT"]
        assert runtime.current_app() is None
        assert runtime.get_service() is not first


def test_concurrent_first_requests_build_one_service(own_db: dict[str, Any], tmp_path: Path) -> None:
    made: list[Service] = []

    def counting(settings: Settings) -> Service:
        time.sleep(0.05)  # a slow build: the other threads arrive meanwhile
        made.append(factories.stepped(settings))
        return made[-1]

    with django_settings_for(
        DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path, SERVICE_FACTORY=counting)
    ):
        seen: list[Service] = []
        threads = [threading.Thread(target=lambda: seen.append(runtime.get_service())) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(made) == 1
        assert len(seen) == 8
        assert all(s is made[0] for s in seen)


def test_a_request_with_bad_settings_is_a_500_and_builds_nothing(own_db: dict[str, Any]) -> None:
    with django_settings_for(DATABASES=own_db, MONTALAQ={"NOTIFY_RATE_LIMIT_PER_MIN": "ten"}):
        assert Client(raise_request_exception=False).get(f"{PREFIX}/health").status_code == 500
        with pytest.raises(ImproperlyConfigured, match="NOTIFY_RATE_LIMIT_PER_MIN"):
            Client().get(f"{PREFIX}/health")
        assert runtime.current_app() is None


def test_a_factory_that_returns_no_service_is_improperly_configured(
    own_db: dict[str, Any], tmp_path: Path
) -> None:
    with (
        django_settings_for(
            DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path, SERVICE_FACTORY=factories.not_a_service)
        ),
        pytest.raises(ImproperlyConfigured, match=r"SERVICE_FACTORY'\]: expected it to return"),
    ):
        runtime.get_service()


def test_install_service_refuses_what_is_not_a_service() -> None:
    with pytest.raises(TypeError, match=r"service: expected a montalaq\.service\.Service"):
        runtime.install_service({"not": "a service"})  # type: ignore[arg-type]


def test_run_scheduler_runs_the_scheduler_in_a_thread_of_the_web_process(
    own_db: dict[str, Any], tmp_path: Path
) -> None:
    settings = montalaq_settings(
        tmp_path, SERVICE_FACTORY=factories.accelerated, RUN_SCHEDULER=True, TICK_SEC=0.05
    )
    with django_settings_for(DATABASES=own_db, MONTALAQ=settings):
        client = Client(raise_request_exception=False)
        first = client.get(f"{PREFIX}/health")  # the scheduler starts under the lifecycle
        assert first.status_code in (200, 503)
        assert body(first)["state"] in ("STARTING", "ACTIVE")
        service = runtime.get_service()
        deadline = time.monotonic() + 20
        while body(client.get(f"{PREFIX}/health"))["state"] != "ACTIVE":
            assert time.monotonic() < deadline, "the Django scheduler never became ACTIVE"
            time.sleep(0.05)
        while service.engine.trades_cached("SPY") == 0 or service.stats.bars_closed == 0:
            assert time.monotonic() < deadline, "the scheduler ingested nothing in 20 s"
            time.sleep(0.05)
        assert service.running
        assert body(client.get(f"{PREFIX}/health"))["trades_cached"]["SPY"] > 0
        metrics = client.get(f"{PREFIX}/metrics").content.decode()
        assert "montalaq_scheduler_running 1.0" in metrics
        runtime.reset_service()
        assert not service.running
        assert not any(t.name == "montalaq-django-scheduler" for t in threading.enumerate())


def test_a_web_process_without_run_scheduler_says_so_and_shows_no_pair_red(
    own_db: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 16, as a new user met it: montalaq_run evaluated the pairs (the rows `montalaq
    status` shows), and the web process, which runs no scheduler, showed each one RED from
    its own board that nobody evaluated. It shows them UNKNOWN and says why."""
    settings = montalaq_settings(tmp_path, SERVICE_FACTORY=factories.accelerated)
    with django_settings_for(DATABASES=own_db, MONTALAQ=settings):
        command("montalaq_run", "--tick", "0.05", "--duration", "2")
        with Store(f"sqlite:///{tmp_path / 'project.sqlite3'}") as store:
            assert {r["freshness"] for r in store.ingestion_status()} == {"GREEN"}
        client = Client()
        health = body(client.get(f"{PREFIX}/health"))
        assert (health["scheduler"]["running"], health["scheduler"]["market_data"]) == (False, False)
        assert health["scheduler"]["reason"].startswith(
            "this process runs no scheduler (settings.MONTALAQ['RUN_SCHEDULER'] is false): "
        )
        status = body(client.get(f"{PREFIX}/api/ingestion/status"))
        assert {p["freshness"] for p in status["pairs"]} == {"UNKNOWN"}
        assert status["providers_summary"]["AllTick"]["red"] == 0
        assert status["providers_summary"]["AllTick"]["unknown"] == 3
        assert 'id="no-scheduler"' in client.get(f"{PREFIX}/").content.decode()


# ------------------------------------------------------------------------------ management commands


def command(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_montalaq_db_upgrades_the_django_database_and_reports_it(
    own_db: dict[str, Any], tmp_path: Path
) -> None:
    head = store_migrate.head_revision()
    db = tmp_path / "project.sqlite3"
    with django_settings_for(DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path)):
        with pytest.raises(CommandError, match="not at head") as info:
            command("montalaq_db", "current")
        assert info.value.returncode == 1
        assert not db.exists()  # a read-only question creates nothing
        out, _ = command("montalaq_db", "upgrade")
        assert out.strip() == f"sqlite:///{db}: upgraded from an empty database to revision {head} (head)"
        out, _ = command("montalaq_db", "upgrade")
        assert out.strip() == f"sqlite:///{db}: already at revision {head} (head)"
        out, _ = command("montalaq_db", "current")
        assert out.splitlines() == [f"database: sqlite:///{db}", f"current: {head}", f"head: {head}"]


@pytest.mark.postgres
def test_montalaq_db_upgrades_a_django_postgresql_database(tmp_path: Path) -> None:
    name = create_pg_database()
    try:
        with django_settings_for(DATABASES=pg_databases(name), MONTALAQ=montalaq_settings(tmp_path)):
            out, _ = command("montalaq_db", "upgrade")
            assert f"/{name}: upgraded from an empty database" in out
            out, _ = command("montalaq_db", "current")
            assert f"current: {store_migrate.head_revision()}" in out
    finally:
        drop_pg_database(name)


def test_montalaq_db_takes_a_url_and_names_it_when_bad(tmp_path: Path) -> None:
    out, _ = command("montalaq_db", "upgrade", "--url", f"sqlite:///{tmp_path}/deep/er/x.db")
    assert "upgraded from an empty database" in out
    assert (tmp_path / "deep" / "er" / "x.db").is_file()
    with pytest.raises(
        CommandError, match=r"montalaq_db: --url: expected a sqlite:// or postgresql:// URL"
    ) as info:
        command("montalaq_db", "upgrade", "--url", "mysql://u:pw@h/db")
    assert info.value.returncode == 2


def test_montalaq_db_reports_an_unreachable_database_without_its_password() -> None:
    with pytest.raises(CommandError) as info:
        command("montalaq_db", "upgrade", "--url", "postgresql://trader:s3cret-pw@127.0.0.1:1/x")
    assert info.value.returncode == 1
    assert str(info.value).startswith("montalaq_db upgrade: postgresql+psycopg://trader:***@127.0.0.1:1/x: ")
    assert "s3cret-pw" not in str(info.value)


def test_montalaq_health_passes_on_an_upgraded_database(own_db: dict[str, Any], tmp_path: Path) -> None:
    with django_settings_for(DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path)):
        command("montalaq_db", "upgrade")
        out, _ = command("montalaq_health")
        assert [line.split()[:2] for line in out.splitlines()] == [["ok", "database"], ["ok", "alerts_dir"]]
        doc = json.loads(command("montalaq_health", "--json")[0])
        assert doc["ok"] is True
        assert set(doc["checks"]) == {"database", "alerts_dir"}
    assert (tmp_path / "alerts").is_dir()


def test_montalaq_health_fails_with_exit_1_without_the_database(
    own_db: dict[str, Any], tmp_path: Path
) -> None:
    with django_settings_for(DATABASES=own_db, MONTALAQ=montalaq_settings(tmp_path)):
        out = io.StringIO()
        with pytest.raises(CommandError, match=r"1 check\(s\) failed: database") as info:
            call_command("montalaq_health", stdout=out)
        assert info.value.returncode == 1
        assert out.getvalue().startswith("FAILED  database    PERMANENT  no database file at")
        assert "manage.py montalaq_db upgrade" in out.getvalue()
    assert not (tmp_path / "project.sqlite3").exists()


def test_montalaq_health_reports_an_unreachable_postgresql_as_transient(tmp_path: Path) -> None:
    settings = montalaq_settings(tmp_path, DATABASE_URL="postgresql://trader:s3cret-pw@127.0.0.1:1/x")
    with django_settings_for(MONTALAQ=settings):
        out = io.StringIO()
        with pytest.raises(CommandError) as info:
            call_command("montalaq_health", "--json", "--timeout", "5", stdout=out)
    assert info.value.returncode == 1
    doc = json.loads(out.getvalue())
    assert doc["ok"] is False
    assert (doc["checks"]["database"]["ok"], doc["checks"]["database"]["kind"]) == (False, "TRANSIENT")
    assert "s3cret-pw" not in out.getvalue()


@pytest.mark.parametrize(
    ("name", "args"),
    [("montalaq_health", ()), ("montalaq_db", ("current",)), ("montalaq_run", ("--duration", "1"))],
)
def test_a_command_with_bad_settings_exits_2_naming_the_key(name: str, args: tuple[str, ...]) -> None:
    with django_settings_for(MONTALAQ={"TICK_SEC": -1}), pytest.raises(CommandError) as info:
        command(name, *args)
    assert info.value.returncode == 2
    assert str(info.value).startswith(f"{name}: settings.MONTALAQ['TICK_SEC']: expected seconds > 0")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--tick", "0"), "--tick: expected seconds > 0"), (("--duration", "x"), "--duration")],
)
def test_montalaq_run_refuses_bad_options(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    with (
        django_settings_for(MONTALAQ=montalaq_settings(tmp_path)),
        pytest.raises(CommandError, match=message) as info,
    ):
        command("montalaq_run", *args)
    assert info.value.returncode == 2


def test_montalaq_run_runs_the_scheduler_for_its_duration(own_db: dict[str, Any], tmp_path: Path) -> None:
    settings = montalaq_settings(tmp_path, SERVICE_FACTORY=factories.accelerated)
    with django_settings_for(DATABASES=own_db, MONTALAQ=settings):
        out, _ = command("montalaq_run", "--tick", "0.05", "--duration", "2")
    first, *_, last = out.splitlines()
    assert first.startswith(
        "montalaq_run: scheduler running: symbols SPY, timeframes 1m,5m,15m, every 0.05 s"
    )
    assert f"database sqlite:///{tmp_path / 'project.sqlite3'} (from DATABASES['default'])" in first
    assert last.startswith("montalaq_run: stopped after ")
    cycles = int(last.split()[3])
    assert cycles >= 5
    with Store(f"sqlite:///{tmp_path / 'project.sqlite3'}") as store:
        assert len(store.analysis_history("SPY", "1m", 100)) >= 1
        assert {(r["symbol"], r["timeframe"]) for r in store.ingestion_status()} == {
            ("SPY", "1m"),
            ("SPY", "5m"),
            ("SPY", "15m"),
        }


# ------------------------------------------------------------------------------ manage.py, for real


def test_manage_py_upgrades_then_passes_the_health_check(tmp_path: Path) -> None:
    failed = manage(tmp_path, "montalaq_health")
    assert failed.returncode == 1, failed.stderr
    assert "CommandError: montalaq_health: 1 check(s) failed: database" in failed.stderr
    upgraded = manage(tmp_path, "montalaq_db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from an empty database" in upgraded.stdout
    healthy = manage(tmp_path, "montalaq_health", "--json")
    assert healthy.returncode == 0, healthy.stderr
    assert json.loads(healthy.stdout)["ok"] is True


def test_manage_py_names_a_bad_environment_value_and_exits_2(tmp_path: Path) -> None:
    r = manage(tmp_path, "montalaq_health", env={"NOTIFY_RATE_LIMIT_PER_MIN": "ten"})
    assert r.returncode == 2
    assert "NOTIFY_RATE_LIMIT_PER_MIN" in r.stderr
    assert "Traceback" not in r.stderr
    checked = manage(tmp_path, "check", env={"NOTIFY_RATE_LIMIT_PER_MIN": "ten"})
    assert checked.returncode == 1
    assert "montalaq.E001" in checked.stderr


def test_manage_py_montalaq_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "montalaq_run", "--tick", "0.05"],
        cwd=tmp_path,
        env=manage_env(tmp_path, {"MONTALAQ_TEST_FACTORY": "montalaq_django_site.factories.accelerated"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("montalaq_run: scheduler running: symbols SPY"), (
            proc.stderr and proc.stderr.read()
        )
        db = tmp_path / "project.sqlite3"
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "montalaq_run wrote no analysis in 30 s"
            if db.exists():
                with Store(f"sqlite:///{db}") as store:
                    if store.analysis_history("SPY", "1m", 1):
                        break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert out.strip().startswith("montalaq_run: stopped after ")
