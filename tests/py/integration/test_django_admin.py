"""montalaq's tables in a Django project (issue 16): ``manage.py migrate`` upgrades them,
the read-only admin lists what montalaq's store wrote, check ``montalaq.W001`` says when
montalaq's database is not the one its admin reads.

In process, through Django's test client as a logged-in superuser, montalaq's tables on a
Django database other than the default one (``DATABASE_ALIAS``): a SQLite file and a
PostgreSQL database on 127.0.0.1:5432 (created and dropped). Django's own tables (users,
sessions) are in the default database, in memory. Then real ``python -m django``
subprocesses (what manage.py runs) on the default database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import Client
from django_support import (
    PG_TABLES,
    SQLITE_TABLES,
    django_settings_for,
    hermetic_environment,  # noqa: F401  (autouse)
    manage,
    montalaq_settings,
    sqlite_databases,
)
from sqlalchemy import create_engine, inspect
from store_fixtures import PG_ADMIN_URL, create_pg_database, drop_pg_database

from montalaq.django import conf, models
from montalaq.records import Analysis, AnalysisStatus, Decision, Finding
from montalaq.store import NewOutboxRow, Store
from montalaq.store import migrate as store_migrate
from montalaq.store.engine import mask_url
from montalaq.store.schema import metadata

# Seconds per test module (migrations, subprocesses): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
MONTALAQ_TABLES = set(metadata.tables) | {"alembic_version"}
HEAD = store_migrate.head_revision()
APPLIED = [
    f"  Applying montalaq store migration {Path(p).stem}... OK"
    for p in sorted((store_migrate.MIGRATIONS_DIR / "versions").glob("0*.py"))
]


def run_migrate(alias: str) -> str:
    """``manage.py migrate --database alias`` in process; its output."""
    out = io.StringIO()
    call_command("migrate", database=alias, stdout=out, stderr=io.StringIO(), no_color=True)
    return out.getvalue()


def fill(store: Store) -> None:
    """What montalaq's store writes: two analyses, two findings, an alert and an escalation
    in the outbox, an error episode."""
    store.save_analysis(
        Analysis(
            "SPY",
            "1m",
            T0,
            AnalysisStatus.COMPLETE,
            Decision.BUY,
            composite_score=71.5,
            close=512.25,
            correlation_id="cid-spy",
        ),
        now=T0,
    )
    store.save_analysis(
        Analysis(
            "QQQ",
            "5m",
            T0 - timedelta(days=40),
            AnalysisStatus.FAILED,
            error_code="DATA_STALE",
            error_message="no trade for 180 s",
        ),
        now=T0,
    )
    store.add_finding(Finding(T0, "trend_score", "SPY", 0.73, "uptrend-spy", {"p_up": 0.73}))
    store.add_finding(Finding(T0, "volume_spike", "QQQ", 2.5, "spike-qqq", {"rvol": 2.5}))
    store.enqueue(
        [
            NewOutboxRow("slack", "alert-a1", "alert", "CRITICAL", {"title": "FIRING heartbeat_lapsed"}),
            NewOutboxRow("webhook", "esc-1", "escalation", "WARNING", {"title": "SPY 1m AMBER"}),
        ],
        now=T0,
    )
    store.record_error("DATA_STALE", "no trade for 180 s on SPY 1m", now=T0)


@dataclass
class Tables:
    """montalaq's tables on a Django database of this process, filled by montalaq's store."""

    backend: str
    alias: str
    url: str  # montalaq's DATABASE_URL, derived from DATABASES[alias]
    montalaq: dict[str, Any]  # settings.MONTALAQ of the tests
    first: str  # what the first migrate printed
    second: str  # what a second migrate printed
    default: str  # what migrate on the default database printed


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tables(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tables]:
    """Django's database ``sqlite_tables`` (a new file) or ``pg_tables`` (a new database)
    holds montalaq's tables (``DATABASE_ALIAS``), migrated twice by ``migrate``; the
    default database (in memory) gets Django's tables and a superuser."""
    tmp = tmp_path_factory.mktemp(f"admin-{request.param}")
    alias = SQLITE_TABLES if request.param == "sqlite" else PG_TABLES
    name = str(tmp / "tables.sqlite3") if request.param == "sqlite" else create_pg_database()
    entry = django_settings.DATABASES[alias]
    entry["NAME"] = name
    montalaq = montalaq_settings(tmp, DATABASE_ALIAS=alias)
    try:
        with django_settings_for(MONTALAQ=montalaq):
            default = run_migrate("default")
            first = run_migrate(alias)
            second = run_migrate(alias)
            url = conf.load().settings.database_url_value
        with Store(url) as store:
            fill(store)
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin-password")
        yield Tables(request.param, alias, url, montalaq, first, second, default)
    finally:
        connections[alias].close()
        entry["NAME"] = ""
        if request.param == "postgresql":
            drop_pg_database(name)


@pytest.fixture
def admin(tables: Tables) -> Iterator[Client]:
    """Django's test client logged in as a superuser, ``MONTALAQ`` naming the alias."""
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    with django_settings_for(MONTALAQ=tables.montalaq):
        yield client


# ------------------------------------------------------------------------------ migrate


def test_migrate_on_the_alias_creates_montalaqs_tables(tables: Tables) -> None:
    shown = mask_url(tables.url)
    lines = tables.first.splitlines()
    heading = lines.index(f"Upgrading montalaq's tables ({shown}):")
    assert lines[heading + 1 : heading + 1 + len(APPLIED)] == APPLIED
    engine = create_engine(tables.url)
    try:
        assert set(inspect(engine).get_table_names()) >= MONTALAQ_TABLES
        assert store_migrate.current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_a_second_migrate_changes_nothing_and_says_so(tables: Tables) -> None:
    shown = mask_url(tables.url)
    assert f"  montalaq tables up to date (revision {HEAD}, {shown})" in tables.second.splitlines()
    assert "Applying montalaq store" not in tables.second


def test_migrate_on_another_database_leaves_montalaqs_tables_alone(tables: Tables) -> None:
    assert "montalaq tables" not in tables.default
    assert "montalaq's tables" not in tables.default
    assert "trade_analysis" not in connections["default"].introspection.table_names()


def test_flush_leaves_montalaqs_rows_and_upgrades_nothing(tables: Tables) -> None:
    """Django's test runner flushes between TransactionTestCases: unmanaged tables are not
    Django's to empty, and post_migrate after a flush is not a migrate."""
    before = models.Analysis.objects.using(tables.alias).count()
    out = io.StringIO()
    with django_settings_for(MONTALAQ=tables.montalaq):
        call_command("flush", database=tables.alias, interactive=False, stdout=out)
    assert "montalaq" not in out.getvalue()
    assert models.Analysis.objects.using(tables.alias).count() == before == 2


def test_an_unreachable_database_url_is_a_command_error_without_its_password() -> None:
    bad = "postgresql://trader:s3cret-pw@127.0.0.1:1/x"
    with (
        django_settings_for(MONTALAQ={"SYMBOL": "SPY", "DATABASE_URL": bad}),
        pytest.raises(CommandError) as info,
    ):
        call_command("migrate", verbosity=0, stdout=io.StringIO(), stderr=io.StringIO())
    message = str(info.value)
    assert message.startswith(
        "montalaq tables not upgraded: DATABASE_URL postgresql+psycopg://trader:***@127.0.0.1:1/x "
        "(from settings.MONTALAQ): OperationalError: "
    ), message
    assert "s3cret-pw" not in message


# ------------------------------------------------------------------------------ the admin

CHANGELISTS = {
    "analysis": ["SPY", "QQQ", "COMPLETE", "FAILED", "DATA_STALE"],
    "finding": ["uptrend-spy", "spike-qqq", "trend_score"],
    "outboxnotification": ["FIRING heartbeat_lapsed", "SPY 1m AMBER", "PENDING"],
    "alert": ["FIRING heartbeat_lapsed", "CRITICAL"],
    "errorepisode": ["DATA_STALE"],
}


def test_the_admin_index_lists_montalaqs_records_without_add_links(admin: Client) -> None:
    r = admin.get("/admin/")
    assert r.status_code == 200
    page = r.content.decode()
    for title in ("Analyses", "Findings", "Outbox notifications", "Alerts", "Error episodes"):
        assert f">{title}<" in page, title
    for model in CHANGELISTS:
        assert f'href="/admin/montalaq/{model}/"' in page, model
        assert f"/admin/montalaq/{model}/add/" not in page, model


@pytest.mark.parametrize("model", sorted(CHANGELISTS))
def test_each_changelist_shows_what_the_store_wrote(admin: Client, model: str) -> None:
    r = admin.get(f"/admin/montalaq/{model}/")
    assert r.status_code == 200, r.content[:500]
    page = r.content.decode()
    for text in CHANGELISTS[model]:
        assert text in page, (model, text)
    assert 'name="action"' not in page  # no delete_selected (nor any other) action


def test_the_alerts_are_the_outbox_rows_of_kind_alert(admin: Client) -> None:
    page = admin.get("/admin/montalaq/alert/").content.decode()
    assert "FIRING heartbeat_lapsed" in page
    assert "SPY 1m AMBER" not in page


def test_search_filters_and_dates_select_rows(admin: Client) -> None:
    searched = admin.get("/admin/montalaq/analysis/", {"q": "QQQ"}).content.decode()
    assert "DATA_STALE" in searched
    assert "512.25" not in searched
    failed = admin.get("/admin/montalaq/analysis/", {"status__exact": "FAILED"}).content.decode()
    assert "QQQ" in failed
    assert "512.25" not in failed
    december = admin.get("/admin/montalaq/analysis/", {"bar_ts__year": "2026", "bar_ts__month": "12"})
    assert december.status_code == 200
    assert "512.25" in december.content.decode()
    assert "DATA_STALE" not in december.content.decode()  # its bar is 40 days earlier
    spy = admin.get("/admin/montalaq/finding/", {"symbol__exact": "SPY"}).content.decode()
    assert "uptrend-spy" in spy
    assert "spike-qqq" not in spy


def _pk(tables: Tables, model: type[Any], **where: Any) -> int:
    return int(model.objects.using(tables.alias).get(**where).pk)


def test_a_detail_page_shows_the_row_read_only(tables: Tables, admin: Client) -> None:
    pk = _pk(tables, models.Analysis, symbol="SPY")
    r = admin.get(f"/admin/montalaq/analysis/{pk}/change/")
    assert r.status_code == 200
    page = r.content.decode()
    assert "512.25" in page
    assert "cid-spy" in page
    assert 'name="_save"' not in page
    assert 'name="symbol"' not in page  # shown, not a form field


@pytest.mark.parametrize("model", ["analysis", "finding", "outboxnotification", "errorepisode"])
def test_changing_deleting_or_adding_is_refused(tables: Tables, admin: Client, model: str) -> None:
    cls: Any = {  # Django ships no types: the models are Any subclasses
        "analysis": models.Analysis,
        "finding": models.Finding,
        "outboxnotification": models.OutboxNotification,
        "errorepisode": models.ErrorEpisode,
    }[model]
    before = cls.objects.using(tables.alias).count()
    pk = cls.objects.using(tables.alias).order_by("pk").first().pk
    assert admin.post(f"/admin/montalaq/{model}/{pk}/change/", {"symbol": "HACK"}).status_code == 403
    assert admin.get(f"/admin/montalaq/{model}/{pk}/delete/").status_code == 403
    assert admin.post(f"/admin/montalaq/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get(f"/admin/montalaq/{model}/add/").status_code == 403
    assert admin.post(f"/admin/montalaq/{model}/add/", {"symbol": "NEW"}).status_code == 403
    bulk = admin.post(
        f"/admin/montalaq/{model}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)  # the changelist, with "no action selected"
    assert cls.objects.using(tables.alias).count() == before
    with Store(tables.url) as store:
        assert {a.symbol for a in store.recent_analyses()} == {"SPY", "QQQ"}


def test_the_admin_needs_a_staff_login(tables: Tables) -> None:
    with django_settings_for(MONTALAQ=tables.montalaq):
        r = Client().get("/admin/montalaq/analysis/")
    assert r.status_code == 302
    assert r["Location"].startswith("/admin/login/")


def test_the_router_reads_montalaqs_models_on_the_alias(tables: Tables) -> None:
    with django_settings_for(
        MONTALAQ=tables.montalaq, DATABASE_ROUTERS=["montalaq.django.tables.TablesRouter"]
    ):
        assert models.Analysis.objects.count() == 2
        assert models.Alert.objects.count() == 1
        assert sorted(models.Finding.objects.values_list("label", flat=True)) == ["spike-qqq", "uptrend-spy"]
        assert models.ErrorEpisode.objects.get().is_resolved is False


def test_times_come_back_as_the_store_wrote_them(tables: Tables) -> None:
    row = models.Analysis.objects.using(tables.alias).get(symbol="SPY")
    assert row.bar_ts == T0
    assert models.Finding.objects.using(tables.alias).get(label="uptrend-spy").details == {"p_up": 0.73}


# ------------------------------------------------------------------------------ check W001


def w001() -> list[Any]:
    return [e for e in checks.run_checks() if e.id == "montalaq.W001"]


def test_w001_is_silent_when_montalaq_uses_the_django_database(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite3"
    with django_settings_for(DATABASES=sqlite_databases(db), MONTALAQ={"SYMBOL": "SPY"}):
        assert w001() == []
    same = {"SYMBOL": "SPY", "DATABASE_URL": f"sqlite:///{tmp_path}/./p.sqlite3"}
    with django_settings_for(DATABASES=sqlite_databases(db), MONTALAQ=same):
        assert w001() == []


@pytest.mark.parametrize(
    "montalaq",
    [
        {"DATABASE_URL": "sqlite:///{tmp}/other.sqlite3"},
        {"DATABASE_URL": "postgresql://trader:s3cret-pw@db.example:5432/montalaq"},
        {"DATABASE_ALIAS": None},
    ],
)
def test_w001_warns_when_montalaqs_database_is_not_the_admins(
    tmp_path: Path, montalaq: dict[str, Any]
) -> None:
    given = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in montalaq.items()}
    db = tmp_path / "p.sqlite3"
    with django_settings_for(DATABASES=sqlite_databases(db), MONTALAQ={"SYMBOL": "SPY", **given}):
        found = w001()
        out, err = io.StringIO(), io.StringIO()
        call_command("check", stdout=out, stderr=err)  # a warning: exit 0
    assert len(found) == 1
    assert f"its admin reads Django's database 'default' (sqlite:///{db})" in found[0].msg
    assert "s3cret-pw" not in found[0].msg
    assert "montalaq.W001" in err.getvalue()


def test_w001_is_silent_without_the_admin(tmp_path: Path) -> None:
    apps = [a for a in django_settings.INSTALLED_APPS if a != "django.contrib.admin"]
    with django_settings_for(
        INSTALLED_APPS=apps,
        DATABASES=sqlite_databases(tmp_path / "p.sqlite3"),
        MONTALAQ={"SYMBOL": "SPY", "DATABASE_ALIAS": None},
    ):
        assert w001() == []


# ------------------------------------------------------------------------------ manage.py, for real


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_manage_py_migrate_upgrades_montalaqs_tables_once(tmp_path: Path, backend: str) -> None:
    pg_name = create_pg_database() if backend == "postgresql" else None
    env = {"MONTALAQ_TEST_DJANGO_PG": pg_name, "MONTALAQ_TEST_PG_URL": PG_ADMIN_URL} if pg_name else {}
    try:
        first = manage(tmp_path, "migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "  Applying montalaq.0001_initial... OK" in first.stdout
        for line in APPLIED:
            assert line in first.stdout.splitlines()
        url = (
            f"sqlite:///{tmp_path / 'project.sqlite3'}"
            if pg_name is None
            else f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{pg_name}"
        )
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            names = set(inspect(engine).get_table_names())
            assert names >= MONTALAQ_TABLES
            assert {"auth_user", "django_migrations"} <= names
            assert store_migrate.current_revision(engine) == HEAD
        finally:
            engine.dispose()
        second = manage(tmp_path, "migrate", env=env)
        assert second.returncode == 0, second.stderr
        assert "  No migrations to apply." in second.stdout
        assert f"  montalaq tables up to date (revision {HEAD}, " in second.stdout
        assert "Applying montalaq" not in second.stdout
        assert "montalaq.W" not in first.stderr + second.stderr
    finally:
        if pg_name is not None:
            drop_pg_database(pg_name)


def test_manage_py_makemigrations_finds_nothing_to_do(tmp_path: Path) -> None:
    """montalaq ships the migration of its models: a host project's check stays clean."""
    r = manage(tmp_path, "makemigrations", "--check", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No changes detected" in r.stdout


def test_manage_py_migrate_fails_naming_an_unreachable_database_url(tmp_path: Path) -> None:
    r = manage(tmp_path, "migrate", env={"DATABASE_URL": "postgresql://trader:s3cret-pw@127.0.0.1:1/x"})
    assert r.returncode == 1
    assert (
        "CommandError: montalaq tables not upgraded: DATABASE_URL "
        "postgresql+psycopg://trader:***@127.0.0.1:1/x (from environment): OperationalError"
    ) in r.stderr
    assert "s3cret-pw" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
