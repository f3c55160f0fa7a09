"""Fixtures: a real, migrated database per test: a SQLite file, or a new PostgreSQL
database with ``HEARTH_TEST_DATABASE=postgresql``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hearth.store.db import create_db_engine, migrate, session_factory
from tests.conftest import database_url_for


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hearth.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return database_url_for(db_path.parent) or f"sqlite:///{db_path}"


@pytest.fixture
def make_engine(db_url: str) -> Iterator[Callable[[], Engine]]:
    """Factory for engines on the test database ("server restarts"); all disposed at teardown."""
    engines: list[Engine] = []

    def make() -> Engine:
        engine = create_db_engine(db_url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(make_engine: Callable[[], Engine]) -> Engine:
    """A migrated engine."""
    engine = make_engine()
    migrate(engine)
    return engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
