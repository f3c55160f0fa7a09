"""Migration 0009 and the Admin API's store on SQLite and a real PostgreSQL: existing keys
keep working with all permissions, organizations get an owner, admin keys verify, an
archived project's keys stop, audit entries are written with each change."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from hearth.domain import PageParams
from hearth.store import db
from hearth.store.admin import Actor, AdminStore, AuditFilter
from hearth.store.api_keys import ApiKeyStore, hash_secret
from hearth.store.db import create_db_engine, session_factory
from hearth.store.models import OrganizationUser
from tests.conftest import new_database

OLD_KEY = "sk-hearth-from-before-admin-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hearth.db'}"
    return new_database(request.getfixturevalue("postgres"), "admin")


def test_upgrade_keeps_existing_keys_working(url: str) -> None:
    config = Config(str(Path(db.__file__).with_name("alembic.ini")))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0008")
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES ('org-a', 'A', 5)")
        )
        conn.execute(
            text(
                "INSERT INTO projects (id, organization_id, name, created_at) "
                "VALUES ('proj_a', 'org-a', 'P', 6)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO api_keys (id, project_id, name, secret_hash, redacted_value, "
                "created_at) VALUES ('key_a', 'proj_a', 'k', :hash, '***', 7)"
            ),
            {"hash": hash_secret(OLD_KEY)},
        )
    command.upgrade(config, "head")
    sessions = session_factory(engine)
    keys = ApiKeyStore(sessions)
    principal = keys.verify(OLD_KEY)
    assert principal is not None and principal.scopes == frozenset()
    assert principal.project_id == "proj_a" and not principal.admin
    with sessions() as s:
        owners = s.scalar(
            select(func.count())
            .select_from(OrganizationUser)
            .where(OrganizationUser.organization_id == "org-a", OrganizationUser.role == "owner")
        )
    assert owners == 1

    admin_key = keys.bootstrap_admin(None)
    assert admin_key is not None
    caller = keys.verify(admin_key)
    assert caller is not None and caller.admin
    store = AdminStore(sessions)
    actor = Actor(caller.organization_id, caller.api_key_id)
    project = store.create_project(actor, "New")
    made = store.create_service_account(actor, project.id, "bot", with_key=True, expires_at=None)
    assert made is not None and made[1] is not None
    scoped = keys.verify(made[1])
    assert scoped is not None and scoped.project_id == project.id
    store.archive_project(actor, project.id)
    keys.clear_cache()
    assert keys.verify(made[1]) is None
    logs = store.audit_logs(caller.organization_id, PageParams(limit=100), AuditFilter())
    assert [row.type for row in logs.items] == [
        "project.created",
        "service_account.created",
        "api_key.created",
        "project.archived",
    ]
    engine.dispose()
