"""The Admin API through the real SDK (``client.admin.organization``): admin keys, projects,
their keys, service accounts, rate limits, users, invites, admin keys and the audit log;
organization isolation; the first start's admin key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from sqlalchemy import Engine

from hearth.config import Settings
from hearth.services.container import Services
from hearth.store.api_keys import ApiKeyStore, ensure_owner, new_admin_key
from hearth.store.db import migrate, session_factory
from tests.conftest import ADMIN_KEY, API_KEY, MODEL, add_project, database_url_for

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def admin_sdk(
    http: httpx2.AsyncClient, admin_key: str = ADMIN_KEY
) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK over the in-process app with ``admin_key`` as its Admin API key (the
    shared ``http`` client stays open)."""
    yield openai.AsyncOpenAI(
        base_url="http://hearth.test/v1",
        api_key=API_KEY,
        admin_api_key=admin_key,
        http_client=http,
        max_retries=0,
    )


@pytest.fixture
async def admin(http: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    async with admin_sdk(http) as client:
        yield client


@contextlib.asynccontextmanager
async def project_sdk(http: httpx2.AsyncClient, key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK as the project key ``key`` (the shared ``http`` client stays open)."""
    yield openai.AsyncOpenAI(
        base_url="http://hearth.test/v1", api_key=key, http_client=http, max_retries=0
    )


async def test_admin_key_is_refused_on_model_endpoints(http: httpx2.AsyncClient) -> None:
    async with project_sdk(http, ADMIN_KEY) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    body = caught.value.body
    assert isinstance(body, dict)
    assert "Missing scopes: api.model.request" in body["message"]
    assert body["type"] == "invalid_request_error"


async def test_project_key_is_refused_on_the_admin_api(http: httpx2.AsyncClient) -> None:
    async with admin_sdk(http, API_KEY) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.admin.organization.projects.list()
        with pytest.raises(openai.AuthenticationError):
            await client.admin.organization.projects.create(name="nope")
    assert "Missing scopes: api.management.read" in str(caught.value)


async def test_unknown_admin_key_is_a_401(http: httpx2.AsyncClient) -> None:
    async with admin_sdk(http, "sk-admin-not-a-key-0123456789abcdef") as client:
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
            await client.admin.organization.projects.list()


async def test_projects_crud_and_archive(admin: openai.AsyncOpenAI) -> None:
    projects = admin.admin.organization.projects
    created = await projects.create(name="Admin test project")
    assert created.object == "organization.project"
    assert created.status == "active" and created.archived_at is None
    assert (await projects.retrieve(created.id)).name == "Admin test project"
    renamed = await projects.update(created.id, name="Renamed")
    assert renamed.name == "Renamed"
    listed = [p.id async for p in projects.list(limit=2)]
    assert created.id in listed
    archived = await projects.archive(created.id)
    assert archived.status == "archived" and archived.archived_at is not None
    assert created.id not in [p.id async for p in projects.list()]
    assert created.id in [p.id async for p in projects.list(include_archived=True)]
    with pytest.raises(openai.BadRequestError):
        await projects.update(created.id, name="again")
    with pytest.raises(openai.NotFoundError):
        await projects.retrieve("proj_doesnotexist")


async def test_service_account_key_works_and_dies_with_its_project(
    admin: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    org = admin.admin.organization
    project = await org.projects.create(name="Service accounts")
    account = await org.projects.service_accounts.create(project.id, name="bot")
    assert account.role == "member" and account.api_key is not None
    key = account.api_key.value
    assert key.startswith("sk-hearth-")
    async with project_sdk(http, key) as client:
        assert any(m.id == MODEL for m in (await client.models.list()).data)
        chat = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
        assert chat.choices
        keys = [k async for k in org.projects.api_keys.list(project.id)]
        assert [k.id for k in keys] == [account.api_key.id]
        assert keys[0].owner.type == "service_account"
        assert keys[0].owner.service_account is not None
        assert keys[0].owner.service_account.id == account.id
        assert key not in keys[0].redacted_value
        await org.projects.archive(project.id)
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    with pytest.raises(openai.BadRequestError):
        await org.projects.service_accounts.create(project.id, name="late")


async def test_service_accounts_crud(admin: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    accounts = admin.admin.organization.projects.service_accounts
    project = await admin.admin.organization.projects.create(name="Accounts CRUD")
    bare = await accounts.create(project.id, name="bare", create_service_account_only=True)
    assert bare.role == "none" and bare.api_key is None
    bot = await accounts.create(project.id, name="bot")
    assert [a.id async for a in accounts.list(project.id)] == [bare.id, bot.id]
    assert (await accounts.retrieve(bot.id, project_id=project.id)).name == "bot"
    updated = await accounts.update(bot.id, project_id=project.id, role="owner", name="robot")
    assert (updated.role, updated.name) == ("owner", "robot")
    extra = await accounts.api_keys.create(bot.id, project_id=project.id, name="second")
    assert extra.object == "organization.project.service_account.api_key"
    deleted = await accounts.delete(bot.id, project_id=project.id)
    assert deleted.deleted
    assert bot.api_key is not None
    for key in (bot.api_key.value, extra.value):  # its keys went with it, at once
        async with project_sdk(http, key) as client:
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()
    with pytest.raises(openai.NotFoundError):
        await accounts.retrieve(bot.id, project_id=project.id)


async def test_project_api_keys_retrieve_update_delete(
    admin: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    org = admin.admin.organization
    project = await org.projects.create(name="Keys")
    account = await org.projects.service_accounts.create(project.id, name="bot")
    assert account.api_key is not None
    key_id, secret = account.api_key.id, account.api_key.value
    got = await org.projects.api_keys.retrieve(key_id, project_id=project.id)
    assert got.name == "bot" and got.owner_project_access == "active"
    async with project_sdk(http, secret) as client:
        await client.models.list()  # cached as all permissions
        await org.projects.api_keys.update(key_id, project_id=project.id, scopes=["api.all.read"])
        await client.models.list()
        with pytest.raises(openai.AuthenticationError, match="api.model.request"):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
        with pytest.raises(openai.BadRequestError):
            await org.projects.api_keys.update(key_id, project_id=project.id, scopes=["api.nope"])
        deleted = await org.projects.api_keys.delete(key_id, project_id=project.id)
        assert deleted.deleted and deleted.object == "organization.project.api_key.deleted"
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    with pytest.raises(openai.NotFoundError):
        await org.projects.api_keys.retrieve(key_id, project_id=project.id)


async def test_rate_limits_list_and_update(admin: openai.AsyncOpenAI, services: Services) -> None:
    limits = admin.admin.organization.projects.rate_limits
    project = await admin.admin.organization.projects.create(name="Limits")
    listed = [r async for r in limits.list_rate_limits(project.id)]
    assert f"rl-{MODEL}" in [r.id for r in listed]
    assert all(r.object == "project.rate_limit" for r in listed)
    defaults = await services.admin.rate_limit_for(project.id, MODEL)  # the server's
    assert defaults is not None
    assert (defaults.max_requests_per_1_minute, defaults.max_tokens_per_1_minute) == (
        10_000,
        10_000_000,
    )
    updated = await limits.update_rate_limit(
        f"rl-{MODEL}", project_id=project.id, max_requests_per_1_minute=7
    )
    assert (updated.model, updated.max_requests_per_1_minute) == (MODEL, 7)
    found = await services.admin.rate_limit_for(project.id, MODEL)
    assert found is not None and found.max_requests_per_1_minute == 7
    again = {r.id: r async for r in limits.list_rate_limits(project.id)}
    assert again[f"rl-{MODEL}"].max_requests_per_1_minute == 7
    with pytest.raises(openai.NotFoundError):
        await limits.update_rate_limit("rl-no-such-model", project_id=project.id)


async def test_users_and_invites(admin: openai.AsyncOpenAI) -> None:
    org = admin.admin.organization
    users = [u async for u in org.users.list()]
    owners = [u for u in users if u.role == "owner"]
    assert owners and owners[0].object == "organization.user"
    assert (await org.users.retrieve(owners[0].id)).id == owners[0].id
    with pytest.raises(openai.BadRequestError):  # the last owner stays
        await org.users.update(owners[0].id, role="reader")
    with pytest.raises(openai.BadRequestError):
        await org.users.delete(owners[0].id)
    assert (await org.users.update(owners[0].id, role="owner")).role == "owner"
    invite = await org.invites.create(email="new@example.com", role="reader")
    assert (invite.status, invite.email) == ("pending", "new@example.com")
    assert (await org.invites.retrieve(invite.id)).id == invite.id
    assert invite.id in [i.id async for i in org.invites.list()]
    assert (await org.invites.delete(invite.id)).deleted
    with pytest.raises(openai.NotFoundError):
        await org.invites.retrieve(invite.id)
    with pytest.raises(openai.BadRequestError):
        await org.invites.create(
            email="x@example.com", role="owner", projects=[{"id": "proj_nope", "role": "member"}]
        )


async def test_admin_api_keys(admin: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    keys = admin.admin.organization.admin_api_keys
    created = await keys.create(name="second admin")
    assert created.value.startswith("sk-admin-")
    assert created.value not in created.redacted_value
    assert created.id in [k.id async for k in keys.list()]
    assert (await keys.retrieve(created.id)).owner.role == "owner"
    async with admin_sdk(http, created.value) as other:
        assert [p async for p in other.admin.organization.projects.list(limit=1)]
        assert (await keys.delete(created.id)).deleted
        with pytest.raises(openai.AuthenticationError):
            await other.admin.organization.projects.list()


async def test_audit_log_records_every_admin_write(admin: openai.AsyncOpenAI) -> None:
    org = admin.admin.organization
    project = await org.projects.create(name="Audited")
    await org.projects.update(project.id, name="Audited 2")
    account = await org.projects.service_accounts.create(project.id, name="bot")
    assert account.api_key is not None
    await org.projects.rate_limits.update_rate_limit(
        f"rl-{MODEL}", project_id=project.id, max_tokens_per_1_minute=100
    )
    await org.projects.api_keys.delete(account.api_key.id, project_id=project.id)
    invite = await org.invites.create(email="audit@example.com", role="reader")
    await org.projects.archive(project.id)
    entries = [e async for e in org.audit_logs.list(project_ids=[project.id])]
    assert [e.type for e in entries] == [
        "project.created",
        "project.updated",
        "service_account.created",
        "api_key.created",
        "rate_limit.updated",
        "api_key.deleted",
        "project.archived",
    ]
    paged = [e.id async for e in org.audit_logs.list(project_ids=[project.id], limit=2)]
    assert paged == [e.id for e in entries]
    me = [k async for k in org.admin_api_keys.list() if k.name == "Configured key"][0]
    for entry in entries:
        assert entry.actor is not None and entry.actor.type == "api_key"
        assert entry.actor.api_key is not None and entry.actor.api_key.id == me.id
        assert entry.project is not None and entry.project.id == project.id
    assert entries[0].project_created is not None
    assert entries[0].project_created.id == project.id
    assert entries[4].rate_limit_updated is not None
    changes = entries[4].rate_limit_updated.changes_requested
    assert changes is not None and changes.max_tokens_per_1_minute == 100
    sent = [e async for e in org.audit_logs.list(event_types=["invite.sent"])]
    assert invite.id in [e.invite_sent.id for e in sent if e.invite_sent]
    later = [
        e
        async for e in org.audit_logs.list(
            project_ids=[project.id], effective_at={"gt": entries[-1].effective_at}
        )
    ]
    assert later == []


async def test_an_admin_key_sees_only_its_organization(
    services: Services, http: httpx2.AsyncClient, admin: openai.AsyncOpenAI
) -> None:
    mine = await admin.admin.organization.projects.create(name="Mine")
    sessions = session_factory(services.db)
    org_id, other_project = add_project(sessions, "Other org", "Theirs")
    secret = "sk-admin-other-organization-0123456789"
    with sessions.begin() as s:
        owner = ensure_owner(s, org_id)
        s.add(new_admin_key(org_id, owner.id, "theirs", secret))
    async with admin_sdk(http, secret) as theirs:
        seen = [p.id async for p in theirs.admin.organization.projects.list()]
        assert seen == [other_project]
        with pytest.raises(openai.NotFoundError):
            await theirs.admin.organization.projects.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            await theirs.admin.organization.projects.archive(mine.id)
        assert [e async for e in theirs.admin.organization.audit_logs.list()] == []
    assert (await admin.admin.organization.projects.retrieve(mine.id)).status == "active"


def test_first_start_prints_an_admin_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url_for(tmp_path),
        bundled_models=False,
        audio=False,
    )
    first = Services.build(settings)
    try:
        printed = capsys.readouterr().out
        lines = [line for line in printed.splitlines() if "admin key" in line]
        assert len(lines) == 1 and "shown once" in lines[0]
        secret = lines[0].rsplit(" ", 1)[1]
        assert secret.startswith("sk-admin-")
        caller = first.api_keys.verify(secret)
        assert caller is not None and caller.admin
    finally:
        first.close()
    Services.build(settings).close()  # a restart prints no new key
    assert "admin key" not in capsys.readouterr().out


def test_first_start_creates_an_admin_key_once(
    make_engine: Callable[[], Engine], tmp_path: Path
) -> None:
    engine = make_engine()
    migrate(engine)
    store = ApiKeyStore(session_factory(engine))
    first = store.bootstrap_admin(None)
    assert first is not None and first.startswith("sk-admin-")
    assert store.bootstrap_admin(None) is None
    principal = store.verify(first)
    assert principal is not None and principal.admin and principal.project_id == ""
    assert store.bootstrap_admin("sk-admin-chosen-by-the-operator-0123") is None
    assert store.verify("sk-admin-chosen-by-the-operator-0123") is not None


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    from hearth.store.db import create_db_engine

    engines: list[Engine] = []

    def make() -> Engine:
        url = database_url_for(tmp_path) or f"sqlite:///{tmp_path / 'hearth.db'}"
        engines.append(create_db_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()
