"""Schema migrations (docs/semantics.md, Persistence) on both backends, and the `montalaq db` commands.

Every test gets an empty database: a SQLite file under tmp_path, or a fresh PostgreSQL
database. The CLI runs as a real subprocess (``python -m montalaq``) importing the same
montalaq as these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text
from store_fixtures import (
    first_use_worker,
    fixture_db_url,  # noqa: F401
    run_processes,
)

import montalaq
from montalaq.store import SchemaOutOfDateError, Store, migrate, schema

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

SPEC_TABLES = {
    "trade_analysis",
    "ingestion_status",
    "findings",
    "position_state",
    "dedup_events",
    "error_notifications_log",
    "operational_state",
    "notification_outbox",
}
HEAD = migrate.head_revision()
UNREACHABLE = "postgresql://u:s3cret@127.0.0.1:1/x"


def tables(url: str) -> set[str]:
    with Store(url, auto_migrate=False) as s:
        return set(inspect(s.engine).get_table_names())


def stamp(url: str, revision: str) -> None:
    """Set the database's recorded revision to ``revision`` (as an older montalaq would have)."""
    with Store(url, auto_migrate=False) as s, s.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def alembic_config(conn: object) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


# ------------------------------------------------------------------------------ upgrade


def test_upgrade_from_empty_creates_every_spec_table(db_url: str) -> None:
    with Store(db_url, auto_migrate=False) as s:
        assert s.revision() is None
        assert s.upgrade() == HEAD
    assert tables(db_url) >= SPEC_TABLES


def test_upgrade_twice_stays_at_the_same_revision(db_url: str) -> None:
    with Store(db_url, auto_migrate=False) as s:
        first = s.upgrade()
        second = s.upgrade()
        assert (first, second, s.revision()) == (HEAD, HEAD, HEAD)


def test_migrated_schema_has_no_difference_from_the_metadata(db_url: str) -> None:
    with Store(db_url, auto_migrate=False) as s:
        s.upgrade()
        with s.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(ctx, schema.metadata)
    assert diff == []


def test_migrated_schema_has_the_check_constraints_of_the_metadata(db_url: str) -> None:
    # compare_metadata does not look at CHECK constraints: compare their names here.
    expected = {
        t.name: {str(c.name) for c in t.constraints if isinstance(c, CheckConstraint)}
        for t in schema.metadata.sorted_tables
    }
    with Store(db_url, auto_migrate=False) as s:
        s.upgrade()
        insp = inspect(s.engine)
        found = {name: {c["name"] for c in insp.get_check_constraints(name)} for name in expected}
    assert found == expected
    assert sum(len(v) for v in found.values()) == 3


def test_first_use_of_an_empty_database_migrates_it(db_url: str) -> None:
    with Store(db_url) as s:
        assert s.latest_findings() == []
        assert s.revision() == HEAD


def test_an_empty_database_is_not_migrated_when_auto_migrate_is_off(db_url: str) -> None:
    with (
        Store(db_url, auto_migrate=False) as s,
        pytest.raises(SchemaOutOfDateError, match="montalaq db upgrade"),
    ):
        s.latest_findings()
    assert not tables(db_url) & SPEC_TABLES


def test_a_database_at_an_unknown_or_older_revision_is_refused(db_url: str) -> None:
    with Store(db_url) as s:
        s.upgrade()
    stamp(db_url, "0000")
    with Store(db_url) as s, pytest.raises(SchemaOutOfDateError, match="montalaq db upgrade") as caught:
        s.latest_findings()
    assert "'0000'" in str(caught.value)


def test_montalaq_tables_without_a_migration_record_are_refused(db_url: str) -> None:
    with Store(db_url, auto_migrate=False) as s:
        schema.metadata.create_all(s.engine)
    with Store(db_url) as s, pytest.raises(SchemaOutOfDateError, match="no migration record"):
        s.latest_findings()


def test_a_migration_committed_by_another_process_between_the_checks_is_accepted(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ensure() read "no revision", another process then committed the whole
    migration, and ensure() saw montalaq tables without a revision and raised
    SchemaOutOfDateError ("no migration record") instead of using the migrated schema."""
    real_current_revision = migrate.current_revision
    reads: list[str | None] = []

    def current_revision_then_another_process_migrates(engine: object) -> str | None:
        rev = real_current_revision(engine)  # type: ignore[arg-type]
        if not reads:
            with Store(db_url, auto_migrate=False) as other:
                other.upgrade()
        reads.append(rev)
        return rev

    monkeypatch.setattr(migrate, "current_revision", current_revision_then_another_process_migrates)
    with Store(db_url) as s:
        assert s.ensure_schema() == HEAD
    assert reads[0] is None


def test_two_processes_first_using_one_empty_database_both_end_at_head(db_url: str) -> None:
    assert run_processes(first_use_worker, [(db_url,), (db_url,)]) == [HEAD, HEAD]
    with Store(db_url) as s:
        assert s.revision() == HEAD


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    with Store(db_url, auto_migrate=False) as s:
        s.upgrade()
        with s.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert s.revision() is None
        assert not set(inspect(s.engine).get_table_names()) & SPEC_TABLES
        assert s.upgrade() == HEAD
    assert tables(db_url) >= SPEC_TABLES


# ------------------------------------------------------------------------------ montalaq db (CLI)


def montalaq_db(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m montalaq db ARGS`` importing the montalaq under test; DATABASE_URL and
    MONTALAQ_DB_PATH unset unless ``env`` sets them."""
    package_root = str(Path(montalaq.__file__).resolve().parent.parent)
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONTALAQ_DB_PATH")}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, full.get("PYTHONPATH")) if p)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "montalaq", "db", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full,
        cwd=cwd,
        check=False,
    )


def test_cli_db_upgrade_migrates_and_prints_the_revision(db_url: str) -> None:
    res = montalaq_db("upgrade", "--url", db_url)
    assert res.returncode == 0, res.stderr
    assert f"revision {HEAD}" in res.stdout
    assert tables(db_url) >= SPEC_TABLES


def test_cli_db_upgrade_of_a_migrated_database_says_it_is_already_at_head(db_url: str) -> None:
    with Store(db_url) as s:
        s.upgrade()
    res = montalaq_db("upgrade", "--url", db_url)
    assert res.returncode == 0, res.stderr
    assert f"already at revision {HEAD}" in res.stdout


def test_cli_db_current_at_head_prints_both_revisions_and_exits_0(db_url: str) -> None:
    with Store(db_url) as s:
        s.upgrade()
    res = montalaq_db("current", "--url", db_url)
    assert res.returncode == 0, res.stderr
    assert f"current: {HEAD}" in res.stdout
    assert f"head: {HEAD}" in res.stdout


def test_cli_db_current_of_an_empty_database_exits_1(db_url: str) -> None:
    res = montalaq_db("current", "--url", db_url)
    assert res.returncode == 1
    assert "current: none" in res.stdout
    assert "montalaq db upgrade" in res.stderr


def test_cli_db_current_of_an_older_revision_exits_1(db_url: str) -> None:
    with Store(db_url) as s:
        s.upgrade()
    stamp(db_url, "0000")
    res = montalaq_db("current", "--url", db_url)
    assert res.returncode == 1
    assert "current: 0000" in res.stdout


def test_cli_db_upgrade_of_an_unknown_revision_exits_1_with_a_message(db_url: str) -> None:
    with Store(db_url) as s:
        s.upgrade()
    stamp(db_url, "0000")
    res = montalaq_db("upgrade", "--url", db_url)
    assert res.returncode == 1
    assert "0000" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_db_uses_DATABASE_URL_when_no_url_is_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from_env.db'}"
    res = montalaq_db("upgrade", env={"DATABASE_URL": url})
    assert res.returncode == 0, res.stderr
    assert tables(url) >= SPEC_TABLES


def test_cli_db_default_is_the_sqlite_file_under_data(tmp_path: Path) -> None:
    res = montalaq_db("upgrade", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert tables(f"sqlite:///{tmp_path / 'data' / 'montalaq.db'}") >= SPEC_TABLES


def test_cli_db_current_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "montalaq.db"
    res = montalaq_db("current", "--url", f"sqlite:///{path}")
    assert res.returncode == 1
    assert not path.parent.exists()


@pytest.mark.parametrize("action", ["upgrade", "current"])
def test_cli_db_unreachable_database_exits_1_without_the_password(action: str) -> None:
    res = montalaq_db(action, "--url", UNREACHABLE)
    assert res.returncode == 1
    assert "refused" in res.stderr.lower()
    assert "u:***@127.0.0.1:1" in res.stderr
    assert "s3cret" not in res.stderr + res.stdout
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("url", ["mysql://u:s3cret@host/db", "not a url", "   "])
def test_cli_db_malformed_url_exits_2_naming_the_option(url: str) -> None:
    res = montalaq_db("upgrade", "--url", url)
    assert res.returncode == 2
    assert "--url:" in res.stderr
    assert "s3cret" not in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_db_malformed_DATABASE_URL_exits_2_naming_the_variable() -> None:
    res = montalaq_db("current", env={"DATABASE_URL": "redis://u:s3cret@127.0.0.1/0"})
    assert res.returncode == 2
    assert "DATABASE_URL:" in res.stderr
    assert "s3cret" not in res.stderr


def test_cli_db_without_an_action_exits_2() -> None:
    res = montalaq_db()
    assert res.returncode == 2
    assert "upgrade" in res.stderr
    assert "current" in res.stderr


def test_0002_turns_each_error_type_row_into_one_episode_and_back(db_url: str) -> None:
    from datetime import UTC, datetime

    t1, t2 = datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC)
    with Store(db_url, auto_migrate=False) as s:
        migrate.upgrade(s.engine, "0001")
        with s.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO error_notifications_log (error_type, first_occurrence, last_occurrence, "
                    "count, notifications_sent, resolved, resolved_at, updated_at) "
                    "VALUES ('BROKER', :t1, :t2, 7, 2, :res, NULL, :t2)"
                ),
                {"t1": t1, "t2": t2, "res": False},
            )
        assert s.upgrade() == HEAD
        [episode] = s.error_episodes()
        assert (episode["error_type"], episode["occurrence_count"], episode["notification_count"]) == (
            "BROKER",
            7,
            2,
        )
        assert (episode["first_occurrence"], episode["last_occurrence"], episode["is_resolved"]) == (
            t1,
            t2,
            False,
        )
        assert episode["last_notification_sent"] == t2
        s.record_error("BROKER", "again", now=t2)  # counted on the migrated open episode
        assert s.error_episodes()[0]["occurrence_count"] == 8
        with s.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        with s.engine.connect() as conn:
            row = conn.execute(
                text("SELECT error_type, count, notifications_sent FROM error_notifications_log")
            ).one()
        assert tuple(row) == ("BROKER", 8, 2)
