"""Engine settings and migrations against a real database (SQLite file, or PostgreSQL with
``HEARTH_TEST_DATABASE=postgresql``; SQLite's own settings always on SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from hearth.errors import InvalidRequest
from hearth.store import db
from hearth.store.db import alembic_config, migrate
from hearth.store.models import Base, include_name

TABLES = {"organizations", "projects", "api_keys"}
# reflection on PostgreSQL meets pgvector's column, which the models leave unmapped
UNMAPPED_VECTOR = "ignore:Did not recognize type 'vector':sqlalchemy.exc.SAWarning"


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrate_creates_tables_at_head(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    assert _current_revision(engine) == head


def test_migrate_twice_is_idempotent(engine: Engine, make_engine: Callable[[], Engine]) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (id, name, created_at) VALUES ('o', 'n', 1)"))
    before = _current_revision(engine)
    migrate(engine)
    migrate(make_engine())  # a "restart" with a fresh engine
    assert _current_revision(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar_one() == 1


@pytest.mark.filterwarnings(UNMAPPED_VECTOR)
def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_single_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


@pytest.mark.sqlite
def test_sqlite_pragmas(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() > 0


def test_foreign_keys_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, organization_id, name, created_at) "
                "VALUES ('p', 'missing-org', 'n', 1)"
            )
        )


def test_delete_organization_cascades(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (id, name, created_at) VALUES ('o', 'n', 1)"))
        conn.execute(
            text(
                "INSERT INTO projects (id, organization_id, name, created_at) "
                "VALUES ('p', 'o', 'n', 1)"
            )
        )
        conn.execute(text("DELETE FROM organizations WHERE id = 'o'"))
        assert conn.execute(text("SELECT count(*) FROM projects")).scalar_one() == 0


@pytest.mark.sqlite
def test_migration_runs_with_sqlite_foreign_keys_off(
    make_engine: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch-mode table rebuilds must not fire ON DELETE CASCADE; FKs come back on after."""
    seen: list[int] = []
    real_upgrade = db.command.upgrade

    def spy_upgrade(config: Config, revision: str) -> None:
        conn = config.attributes["connection"]
        seen.append(conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one())
        real_upgrade(config, revision)

    monkeypatch.setattr(db.command, "upgrade", spy_upgrade)
    engine = make_engine()
    migrate(engine)
    assert seen == [0]
    with engine.connect() as conn:  # the same pooled connection
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


@pytest.mark.filterwarnings(UNMAPPED_VECTOR)
def test_packaged_alembic_ini_works_with_cli_commands(db_url: str) -> None:
    """`alembic -c hearth/store/alembic.ini upgrade head` + `alembic check` equivalent."""
    ini = Path(db.__file__).with_name("alembic.ini")
    config = Config(str(ini))
    config.set_main_option("sqlalchemy.url", db_url)
    command.upgrade(config, "head")
    command.check(config)  # raises if autogenerate would produce operations


def test_nul_in_a_string_is_the_callers_error(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL: a 400 there, stored as-is on SQLite."""
    insert = text("INSERT INTO organizations (id, name, created_at) VALUES ('o', :name, 1)")
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(insert, {"name": "a\x00b"})
        return
    with pytest.raises(InvalidRequest), engine.begin() as conn:
        conn.execute(insert, {"name": "a\x00b"})
