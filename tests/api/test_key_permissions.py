"""Key permissions (OpenAI's restricted and read-only keys), enforced on every route by
``deps.authenticate``: every route has a scope, read-only keys cannot write, restricted
keys reach only their scopes, the Realtime WebSocket checks them too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse

from hearth.api.deps import authenticate
from hearth.domain import Principal
from hearth.services.admin.scopes import SCOPES, required_scope
from hearth.services.container import Services
from tests.conftest import ADMIN_KEY, API_KEY, MODEL

pytestmark = pytest.mark.anyio


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(full path, route)`` of every FastAPI route, through included routers."""
    for route in routes:
        if isinstance(route, (APIRoute, APIWebSocketRoute)):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # FastAPI's lazily included router
            inner = prefix + route.include_context.prefix
            yield from _routes(route.original_router.routes, inner)


def _uses_authenticate(dependant: Dependant) -> bool:
    return dependant.call is authenticate or any(
        _uses_authenticate(d) for d in dependant.dependencies
    )


def test_every_v1_route_has_a_scope(app: FastAPI) -> None:
    """A new route under /v1, or any route authenticating a key, without a scope fails."""
    seen = 0
    for path, route in _routes(app.router.routes):
        guarded = path.startswith("/v1/") or _uses_authenticate(route.dependant)
        if not guarded:
            continue
        methods = route.methods if isinstance(route, APIRoute) else {"WEBSOCKET"}
        for method in methods:
            seen += 1
            assert required_scope(method, path) is not None, f"{method} {path} has no scope"
            # the scope the route declares matches the one the template as served gets
            assert required_scope(method, path) == required_scope(method, route.path)
    assert seen > 100


def test_scope_rules() -> None:
    assert required_scope("POST", "/v1/chat/completions") == "api.model.request"
    assert required_scope("GET", "/v1/chat/completions/{completion_id}") == (
        "api.chat.completions.read"
    )
    assert required_scope("POST", "/v1/files") == "api.files.write"
    assert required_scope("DELETE", "/v1/files/{file_id}") == "api.files.write"
    assert required_scope("GET", "/v1/organization/projects") == "api.management.read"
    assert required_scope("WEBSOCKET", "/v1/realtime") == "api.model.request"
    assert required_scope("GET", "/v1/nothing-here") is None
    read_only = Principal("org", "proj", "key", scopes=frozenset({"api.all.read"}))
    assert read_only.allows("api.files.read") and not read_only.allows("api.files.write")
    assert not read_only.allows("api.model.request")
    writer = Principal("org", "proj", "key", scopes=frozenset({"api.files.write"}))
    assert writer.allows("api.files.read") and not writer.allows("api.vector_stores.read")
    everything = Principal("org", "proj", "key")
    assert all(everything.allows(s) for s in SCOPES)
    assert not everything.allows("api.management.read")
    admin = Principal("org", "", "key", admin=True)
    assert admin.allows("api.management.write") and not admin.allows("api.model.read")


@contextlib.asynccontextmanager
async def _sdk(http: httpx2.AsyncClient, key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    yield openai.AsyncOpenAI(
        base_url="http://hearth.test/v1",
        api_key=key,
        admin_api_key=ADMIN_KEY,
        http_client=http,
        max_retries=0,
    )


async def _key(http: httpx2.AsyncClient, scopes: list[str]) -> str:
    """A new service account key with ``scopes`` in a new project."""
    async with _sdk(http, API_KEY) as admin:
        org = admin.admin.organization
        project = await org.projects.create(name="Permissions")
        account = await org.projects.service_accounts.create(
            project.id, name="bot", create_service_account_only=True
        )
        key = await org.projects.service_accounts.api_keys.create(
            account.id, project_id=project.id, name="scoped", scopes=scopes
        )
        return key.value


async def test_a_read_only_key_reads_but_cannot_write(http: httpx2.AsyncClient) -> None:
    async with _sdk(http, await _key(http, ["api.all.read"])) as client:
        assert (await client.files.list()).data == []
        await client.models.list()
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.files.create(file=("a.txt", b"hello"), purpose="user_data")
        with pytest.raises(openai.AuthenticationError):
            await client.files.delete("file-abc")
        with pytest.raises(openai.AuthenticationError):
            await client.vector_stores.create(name="no")
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"].startswith(
        "You have insufficient permissions for this operation. Missing scopes: api.files.write."
    )
    assert body["type"] == "invalid_request_error" and body["code"] is None


async def test_a_files_only_key_cannot_chat(http: httpx2.AsyncClient) -> None:
    async with _sdk(http, await _key(http, ["api.files.write"])) as client:
        uploaded = await client.files.create(file=("a.txt", b"hello"), purpose="user_data")
        assert (await client.files.retrieve(uploaded.id)).id == uploaded.id
        with pytest.raises(openai.AuthenticationError, match="api.model.request"):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
        with pytest.raises(openai.AuthenticationError, match="api.model.read"):
            await client.models.list()
        with pytest.raises(openai.AuthenticationError, match="api.responses.write"):
            await client.responses.create(model=MODEL, input="hi", max_output_tokens=16)


async def test_a_model_request_key_can_chat(http: httpx2.AsyncClient) -> None:
    async with _sdk(http, await _key(http, ["api.model.request"])) as client:
        chat = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
        assert chat.choices
        with pytest.raises(openai.AuthenticationError, match="api.files.read"):
            await client.files.list()


async def test_unknown_scopes_are_refused(http: httpx2.AsyncClient) -> None:
    with pytest.raises(openai.BadRequestError, match="Unknown scope"):
        await _key(http, ["api.management.write"])


def test_realtime_websocket_checks_the_key(services: Services, app: FastAPI) -> None:
    client = TestClient(app)
    for key in (ADMIN_KEY, "sk-hearth-unknown-0123456789"):
        headers = {"Authorization": f"Bearer {key}"}
        url = f"/v1/realtime?model={MODEL}"
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect(url, headers=headers),
        ):
            pass
        assert denied.value.status_code == 401
    with client.websocket_connect(
        f"/v1/realtime?model={MODEL}", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as ws:
        assert ws.receive_json()["type"] == "session.created"
