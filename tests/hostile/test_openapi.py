"""Schemathesis over OpenAI's OpenAPI document, against every operation Hearth serves.

Each generated request (valid and invalid by the document) goes to a real server; the
answer must not be a 5xx and, where the document describes the status, must match its
response schema. Departures from the document are listed in ``quirks.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from hearth.app import create_app
from hearth.config import Settings
from tests.e2e.conftest import Server
from tests.hostile import quirks
from tests.hostile.conftest import ADMIN_AUTH, AUTH, healthy

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2].parent / "shared/openai-openapi/openapi.yaml"
EXAMPLES = 30
"""Generated cases per operation (about four minutes for the module on 2 cores; the
suite's time budget holds ``make test`` under ~35 minutes on CI's 2 cores)."""

SEEN: Counter[str] = Counter()


def served_operations() -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every route Hearth serves under ``/v1`` (paths as the
    document writes them, without the ``/v1`` server prefix)."""
    app = create_app(Settings(data_dir=Path("/nonexistent"), bundled_models=False, audio=False))
    return {
        (method.upper(), path[len("/v1") :])
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in item
    }


if not DOCUMENT.is_file():
    pytest.skip(f"OpenAI's OpenAPI document is not at {DOCUMENT}", allow_module_level=True)
SERVED = served_operations()
with DOCUMENT.open() as fh:
    DOC = quirks.patch_document(yaml.load(fh, Loader=yaml.CSafeLoader))
schema = schemathesis.openapi.from_dict(DOC).include(
    lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SERVED
)


def test_every_served_operation_is_in_the_document() -> None:
    in_document = {
        (method.upper(), path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert SERVED - in_document == quirks.NOT_IN_DOCUMENT


@pytest.fixture(scope="module", autouse=True)
def report(hostile_server: Server) -> Iterator[None]:
    yield
    healthy(hostile_server)
    print(f"\nschemathesis: {len(SEEN)} operations, {sum(SEEN.values())} cases")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_openai_document(case: schemathesis.Case, hostile_server: Server) -> None:
    method, path = case.operation.method.upper(), case.operation.path
    SEEN[f"{method} {path}"] += 1
    case.body = quirks.bound(method, path, case.body)
    case.call_and_validate(
        base_url=f"{hostile_server.url}/v1",
        headers=ADMIN_AUTH if path.startswith("/organization/") else AUTH,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
