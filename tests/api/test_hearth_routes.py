"""Hearth's own routes that act for the whole server, in-process: the demo page's token
(``POST /hearth/realtime/demo-token``) only for a browser on this machine, and
``GET /hearth/engine`` only for keys of the server's own organization."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from fastapi import FastAPI

from hearth.app import create_app
from hearth.services.container import Services
from hearth.store.db import session_factory
from tests.conftest import API_KEY, add_project, new_project

pytestmark = pytest.mark.anyio

TOKEN = "/hearth/realtime/demo-token"


@pytest.fixture
async def local(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A client on this machine: loopback peer and ``Host: 127.0.0.1:8000``."""
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        yield c


def assert_forbidden(r: httpx2.Response, code: str) -> str:
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code
    return str(error["message"])


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Origin": "http://127.0.0.1:8000"},
    ],
    ids=["no-origin", "own-origin"],
)
async def test_demo_token_for_the_page_on_this_machine(
    local: httpx2.AsyncClient, headers: dict[str, str] | None
) -> None:
    r = await local.post(TOKEN, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"].startswith("ek_") and body["session"]["type"] == "realtime"


async def test_demo_token_on_localhost_with_its_origin(app: FastAPI) -> None:
    transport = httpx2.ASGITransport(app=app, client=("::1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://localhost:8000") as c:
        r = await c.post(TOKEN, headers={"Origin": "http://localhost:8000"})
    assert r.status_code == 200 and r.json()["value"].startswith("ek_")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Forwarded": "for=203.0.113.7;proto=https"}, "proxy"),
        ({"X-Real-IP": "203.0.113.7"}, "proxy"),
        ({"X-Forwarded-For": "203.0.113.7"}, "proxy"),
        ({"X-Forwarded-Host": "hearth.example.com"}, "proxy"),
        ({"Via": "1.1 proxy"}, "proxy"),
        ({"Origin": "https://evil.example.com"}, "another origin"),
        ({"Origin": "http://127.0.0.1:9999"}, "another origin"),
        ({"Origin": "null"}, "another origin"),
        ({"Host": "rebind.example.com:8000"}, "loopback name"),
        (
            {"Host": "rebind.example.com:8000", "Origin": "http://rebind.example.com:8000"},
            "loopback name",
        ),
    ],
)
async def test_demo_token_refused(
    local: httpx2.AsyncClient, headers: dict[str, str], why: str
) -> None:
    message = assert_forbidden(await local.post(TOKEN, headers=headers), "demo_token_forbidden")
    assert why in message and "/v1/realtime/client_secrets" in message


async def test_demo_token_refused_to_another_machine(app: FastAPI) -> None:
    transport = httpx2.ASGITransport(app=app, client=("192.0.2.10", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        r = await c.post(TOKEN)
    assert "not on this machine" in assert_forbidden(r, "demo_token_forbidden")


async def test_demo_turned_off(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.settings, "realtime_demo", False)
    transport = httpx2.ASGITransport(
        app=create_app(services.settings, services), client=("127.0.0.1", 50000)
    )
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        assert (await c.get("/realtime")).status_code == 404
        r = await c.post(TOKEN)
    assert "turned off" in assert_forbidden(r, "demo_token_forbidden")


async def test_engine_stats_for_the_servers_own_organization(
    services: Services, local: httpx2.AsyncClient
) -> None:
    for key in (API_KEY, new_project(services, "Same organization")[1]):
        r = await local.get("/hearth/engine", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "hearth.engine_stats"
        assert "smollm2-135m-instruct" in r.json()["models"]


async def test_engine_stats_refused_to_other_organizations(
    services: Services, local: httpx2.AsyncClient
) -> None:
    _, project_id = add_project(session_factory(services.db), "Tenant", "Tenant project")
    key = services.api_keys.create(project_id, "tenant key")[0]
    # the key is valid for the API, so 403 and not 401
    assert (await local.get("/v1/models", headers={"Authorization": f"Bearer {key}"})).is_success
    r = await local.get("/hearth/engine", headers={"Authorization": f"Bearer {key}"})
    message = assert_forbidden(r, "insufficient_permissions")
    assert "/hearth/engine" in message and "smollm2" not in r.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-not-a-key"}])
async def test_engine_stats_need_a_key(local: httpx2.AsyncClient, headers: dict[str, str]) -> None:
    r = await local.get("/hearth/engine", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
