"""One real ``hearth serve`` for the hostile-input tests: requests travel over TCP as a
client's would (body limits, chunked bodies, server health after each probe)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.conftest import ADMIN_KEY, API_KEY
from tests.e2e.conftest import Server, start_server, stop_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
"""The Admin API's (``/organization/...``) key."""


@pytest.fixture(scope="session")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("hostile") / "data", "--api-key", API_KEY, "--admin-key", ADMIN_KEY
    )
    yield srv
    stop_server(srv)


def healthy(server: Server) -> None:
    """The server still answers ``GET /health`` (a hang fails on the client's timeout)."""
    assert server.process.poll() is None, server.output()[-4000:]
    assert httpx2.get(f"{server.url}/health", timeout=30).status_code == 200
