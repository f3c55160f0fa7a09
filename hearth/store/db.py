"""Engine creation, schema migration and session factories.

Typical server start-up::

    engine = create_db_engine("sqlite:////var/lib/hearth/hearth.db")
    migrate(engine)                      # idempotent, run on every start
    sessions = session_factory(engine)

SQLite connections get ``journal_mode=WAL``, ``foreign_keys=ON`` and a
``busy_timeout`` on connect. Other backends (PostgreSQL) are used as-is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from hearth.errors import InvalidRequest

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite connection waits for a competing writer before failing."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic ``script_location``; ships inside the package."""

_PG_WRITE_LOCK_KEY = 0x4865617274
"""Arbitrary constant key for the PostgreSQL advisory lock ("Heart")."""


def create_db_engine(database_url: str) -> Engine:
    """Create an engine for ``database_url``.

    Accepts any SQLAlchemy URL, e.g. ``sqlite:////abs/path.db`` or
    ``postgresql+psycopg://user:pw@host/db``. For SQLite, every new DBAPI
    connection runs ``PRAGMA journal_mode=WAL``, ``PRAGMA foreign_keys=ON`` and
    ``PRAGMA busy_timeout=5000`` (in-memory databases report journal mode
    ``memory``; that is fine).

    Raises ``sqlalchemy.exc.ArgumentError`` for a malformed URL and
    ``ModuleNotFoundError`` if the URL's driver is not installed.
    """
    engine = create_engine(database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "handle_error", _refuse_nul)
    return engine


def _refuse_nul(context: ExceptionContext) -> None:
    """``handle_error`` hook: PostgreSQL text cannot hold NUL (SQLite's can), so a request
    value with one is the caller's error (400), not a server error."""
    error = context.original_exception
    if "NUL (0x00)" in str(error) or getattr(error, "sqlstate", None) == "22P05":
        raise InvalidRequest("Strings must not contain NUL (\\u0000) characters.") from error


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    """``connect`` event hook: apply Hearth's SQLite pragmas to a new connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def lock_for_write(connection: Connection) -> None:
    """Serialize this transaction against other writers that also call this.

    Must be the first statement of the transaction. On SQLite it issues
    ``BEGIN IMMEDIATE`` (takes the write lock now, waiting up to the busy
    timeout; it also makes DDL transactional under pysqlite's legacy
    transaction mode). On PostgreSQL it takes a transaction-scoped advisory
    lock. Other backends: no-op. Used by :func:`migrate` and API-key bootstrap
    so that several server processes starting at once do not race.

    Raises ``sqlalchemy.exc.OperationalError`` if the lock cannot be obtained
    within SQLite's busy timeout.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK_KEY})


def alembic_config() -> Config:
    """Build an Alembic ``Config`` pointing at the packaged migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


class MigrationError(RuntimeError):
    """A migration left the database inconsistent (it was rolled back)."""


def migrate(engine: Engine) -> None:
    """Apply all Alembic migrations up to ``head``; a no-op when already there.

    Runs inside one transaction on a connection from ``engine`` (handed to
    ``env.py`` via ``config.attributes["connection"]``), holding the write lock
    from :func:`lock_for_write`, so concurrent starts are safe and a failed
    migration leaves the schema unchanged (SQLite and PostgreSQL both have
    transactional DDL). On SQLite, foreign keys are switched off for the
    migration (batch-mode table rebuilds would otherwise fire ``ON DELETE
    CASCADE``) and checked with ``PRAGMA foreign_key_check`` before commit.

    Raises ``alembic.util.exc.CommandError`` if the database is at a revision
    this code does not know (e.g. after a downgrade of Hearth),
    :class:`MigrationError` if foreign keys are violated afterwards, and
    ``sqlalchemy.exc.SQLAlchemyError`` for database failures.
    """
    config = alembic_config()
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        lock_for_write(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        _check_sqlite_foreign_keys(connection)
        connection.commit()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, run the block with ``foreign_keys=OFF`` (outside any transaction).

    The pragma is restored afterwards; if that fails the connection is
    invalidated so it never returns to the pool with foreign keys off.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        try:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
        except Exception:
            connection.invalidate()
            raise


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    """Raise :class:`MigrationError` if SQLite reports foreign-key violations."""
    if connection.dialect.name != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise MigrationError(f"foreign key violations after migration: {violations[:10]!r}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a ``sessionmaker`` bound to ``engine``.

    ``expire_on_commit=False`` so ORM objects returned from store methods stay
    readable after their session is closed.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)
