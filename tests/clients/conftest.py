"""One real ``hearth serve`` (bundled model) for every client in this suite.

Each client test drives that server through a real client release, as its users would,
and asserts on protocol and schema validity only: the 135M model's wording is not
the client's contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field

from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import Server, start_server, stop_server

__all__ = ["API_KEY", "MODEL", "TEXT", "City", "Server"]

TEXT = "Paris is the capital of France, home to 2,100,000 people. Extract the city."


# the structured output every client extracts from TEXT (no docstring: it would become the
# schema's description, part of the prompt)
class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population: int


@pytest.fixture(scope="session")
def clients_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("clients") / "data", "--api-key", API_KEY)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def base_url(clients_server: Server) -> str:
    """The server's OpenAI base URL (``.../v1``)."""
    return f"{clients_server.url}/v1"
