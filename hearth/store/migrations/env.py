"""Alembic environment for Hearth.

Normally driven by :func:`hearth.store.db.migrate`, which passes an open
connection in ``config.attributes["connection"]``. For development with the
Alembic CLI (``alembic -c hearth/store/alembic.ini -x url=sqlite:////tmp/x.db
revision --autogenerate -m "..."``) the URL comes from ``-x url=...`` or the
``sqlalchemy.url`` option instead. Offline (``--sql``) mode is supported too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hearth.store.db import create_db_engine
from hearth.store.models import Base, include_name

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    """URL for CLI use: ``-x url=...`` wins over ``sqlalchemy.url``."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=<sqlalchemy url> or set sqlalchemy.url")
    return url


def _run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection handed in by ``migrate()``, else open one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return
    engine = create_db_engine(_database_url())
    try:
        with engine.connect() as new_connection:
            _run_with_connection(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
