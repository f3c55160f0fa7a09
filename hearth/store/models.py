"""SQLAlchemy ORM models for Hearth's persistent state.

Shapes (all timestamps are integer Unix seconds, like the OpenAI API):

* ``organizations``: ``id`` ("org-<24 alnum>"), ``name``, ``created_at``.
* ``projects``: ``id`` ("proj_<24 alnum>"), ``organization_id`` -> organizations,
  ``name``, ``created_at``.
* ``api_keys``: ``id`` ("key_<24 alnum>"), ``project_id`` -> projects, ``name``,
  ``secret_hash`` (sha256 hex of the secret, unique), ``redacted_value``
  ("sk-hearth-ab...wxyz"), ``created_at``, ``last_used_at`` (nullable).

The plaintext of an API key is never stored; see :mod:`hearth.store.api_keys`.
Deleting an organization or project cascades to its children (database-level
``ON DELETE CASCADE`` plus ORM cascades).

Any change here needs a matching Alembic revision in ``migrations/versions``;
``tests/store/test_migrations.py`` fails if models and migrations disagree.
"""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, ForeignKey, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hearth.store.ids import new_id

ORGANIZATION_ID_PREFIX = "org-"
PROJECT_ID_PREFIX = "proj_"
API_KEY_ID_PREFIX = "key_"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations (incl. SQLite batch mode) can
refer to constraints by name on every backend."""


def now_unix() -> int:
    """Current time as integer Unix seconds."""
    return int(time.time())


def _new_org_id() -> str:
    return new_id(ORGANIZATION_ID_PREFIX)


def _new_project_id() -> str:
    return new_id(PROJECT_ID_PREFIX)


def _new_api_key_id() -> str:
    return new_id(API_KEY_ID_PREFIX)


class Base(DeclarativeBase):
    """Declarative base for all Hearth tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    """A tenant. Owns projects."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_org_id)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)

    projects: Mapped[list[Project]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Organization(id={self.id!r}, name={self.name!r})"


class Project(Base):
    """A project inside an organization. Owns API keys."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_project_id)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)

    organization: Mapped[Organization] = relationship(back_populates="projects")
    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Project(id={self.id!r}, name={self.name!r})"


class ApiKey(Base):
    """An API key. Only the sha256 hex digest of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_api_key_id)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    redacted_value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, default=None)

    project: Mapped[Project] = relationship(back_populates="api_keys")

    def __repr__(self) -> str:
        # Deliberately omits secret_hash.
        return f"ApiKey(id={self.id!r}, name={self.name!r}, redacted={self.redacted_value!r})"


class RealtimeClientSecret(Base):
    """An ephemeral Realtime key (``ek_...``) minted by ``POST /v1/realtime/client_secrets``:
    only its sha256 is stored, with the key that minted it and the session it presets."""

    __tablename__ = "realtime_client_secrets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    api_key_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    session: Mapped[str] = mapped_column(Text)
    """The session settings (GA JSON) a connection with this key starts from."""
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
