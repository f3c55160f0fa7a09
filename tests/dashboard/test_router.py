"""The dashboard's router (``hearth/api/dashboard.py``) on a bare app over a tiny build in
a temporary folder: what it serves, its headers, gzip and revalidation, and its 404s; and
``HEARTH_DASHBOARD`` turning it off in the full app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI

from hearth.api import dashboard
from hearth.api.errors import install_error_handlers
from hearth.app import create_app
from hearth.config import Settings

pytestmark = pytest.mark.anyio

SCRIPT = b"console.log('hearth');\n" * 200


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "index.html").write_text('<script type="module" src="/dashboard/app.js"></script>')
    (tmp_path / "app.js").write_bytes(SCRIPT)
    (tmp_path / "index.css").write_text("body{margin:0}")
    (tmp_path / ".hidden.js").write_text("secret")
    (tmp_path / "notes.txt").write_text("not an asset")
    monkeypatch.setattr(dashboard, "ASSETS", tmp_path)
    return tmp_path


@pytest.fixture
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(dashboard.router)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http:
        yield http


async def test_page_and_assets(build: Path, client: httpx2.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == dashboard.CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    css = await client.get("/dashboard/index.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "content-encoding" not in css.headers  # too small to gain from gzip


async def test_gzip_and_revalidation(build: Path, client: httpx2.AsyncClient) -> None:
    raw = await client.get("/dashboard/app.js", headers={"Accept-Encoding": "identity"})
    assert raw.content == SCRIPT and "content-encoding" not in raw.headers
    packed = await client.get("/dashboard/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == SCRIPT  # the client decoded it
    assert int(packed.headers["content-length"]) < len(SCRIPT) / 10
    assert packed.headers["vary"] == "Accept-Encoding"
    same = await client.get("/dashboard/app.js", headers={"If-None-Match": raw.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    (build / "app.js").write_bytes(SCRIPT + b"// rebuilt\n")  # served without a restart
    fresh = await client.get("/dashboard/app.js", headers={"If-None-Match": raw.headers["etag"]})
    assert fresh.status_code == 200 and fresh.content.endswith(b"// rebuilt\n")


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/index.html",
        "/dashboard/.hidden.js",
        "/dashboard/notes.txt",
        "/dashboard/missing.js",
        "/dashboard/..%2Fapi%2Fdashboard.py",
        "/dashboard/",
        "/logs",
    ],
)
async def test_anything_else_is_openais_404(
    build: Path, client: httpx2.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 404, path
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_not_built(
    tmp_path: Path, client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "ASSETS", tmp_path)
    r = await client.get("/")
    assert r.status_code == 404
    assert "make dashboard" in r.json()["error"]["message"]


@pytest.mark.parametrize("on", [True, False])
async def test_turned_off(build: Path, tmp_path: Path, on: bool) -> None:
    """``HEARTH_DASHBOARD=false``: ``/`` and the built files are the API's 404; the API
    beside them is unchanged. (The app's services are never started: no request here
    reaches them.)"""
    app = create_app(Settings(data_dir=tmp_path / "data", dashboard=on))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http:
        page = await http.get("/")
        script = await http.get("/dashboard/app.js")
        models = await http.get("/v1/models")
    if on:
        assert page.status_code == 200 and script.content == SCRIPT
    else:
        for r in (page, script):
            assert r.status_code == 404
            assert r.json()["error"]["type"] == "invalid_request_error"
    assert models.status_code == 401  # no key: the API answers as ever
