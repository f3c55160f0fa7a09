"""Hostile requests against a real server: each is answered with OpenAI's error shape
(or served correctly) within the client's timeout, with no internal text in the message,
and the server answers ``GET /health`` afterwards.

Timeouts are generous (30 s): a request that hangs fails here; how fast the answers
come is not asserted (no timed assertions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import Server
from tests.hostile.conftest import AUTH, healthy

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0
MB = 1_000_000
DEEP = 100_000
INTERNAL = (
    "Traceback",
    'File "',
    "RecursionError",
    "maximum recursion depth",
    "panicked",
    "errors.pydantic.dev",
    "sqlite3",
    "jsonschema_rs",
    "Exception",
)


def request(server: Server, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return httpx2.request(method, f"{server.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


def post_json(server: Server, path: str, body: Any) -> httpx2.Response:
    return request(server, "POST", path, json=body)


def post_raw(server: Server, path: str, raw: bytes) -> httpx2.Response:
    return request(server, "POST", path, content=raw, headers={"content-type": "application/json"})


def error_of(response: httpx2.Response, status: int) -> dict[str, Any]:
    """The OpenAI-shaped error of ``response``, which must have ``status``; no internal
    text in its message."""
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    for text in INTERNAL:
        assert text not in error["message"], error["message"]
    return error


@pytest.fixture
def server(hostile_server: Server) -> Iterator[Server]:
    yield hostile_server
    healthy(hostile_server)


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=TIMEOUT
    ) as c:
        yield c


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def chat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 1,
    }
    body.update(overrides)
    return body


# --- bodies ----------------------------------------------------------------------------

JSON_ROUTES = [
    "/v1/chat/completions",
    "/v1/chat/completions/chatcmpl-x",
    "/v1/evals",
    "/v1/evals/eval_x",
    "/v1/evals/eval_x/runs",
    "/v1/fine_tuning/jobs",
    "/v1/audio/speech",
    "/v1/realtime/client_secrets",
    "/v1/realtime/sessions",
]


@pytest.mark.parametrize("size", [60 * MB, 200 * MB])
def test_oversized_body_is_413_without_reading_it(server: Server, size: int) -> None:
    head = b'{"model": "x", "messages": [{"role": "user", "content": "'
    tail = b'"}]}'

    def body() -> Iterator[bytes]:  # never held whole here either
        yield head
        for _ in range(size // MB):
            yield b"a" * MB
        yield tail

    response = request(
        server,
        "POST",
        "/v1/chat/completions",
        content=body(),
        headers={
            "content-type": "application/json",
            "content-length": str(len(head) + size + len(tail)),
        },
    )
    error = error_of(response, 413)
    assert error["code"] == "request_too_large"


def test_chunked_oversized_body_is_413(server: Server) -> None:
    def body() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"model": "x", "messages": [{"role": "user", "content": "'
        for _ in range(200):
            yield b"a" * MB

    response = request(
        server,
        "POST",
        "/v1/chat/completions",
        content=body(),
        headers={"content-type": "application/json"},
    )
    assert error_of(response, 413)["code"] == "request_too_large"


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_deeply_nested_body_is_400(server: Server, path: str) -> None:
    raw = ('{"model": "x", "metadata": ' + nested(DEEP) + "}").encode()
    error_of(post_raw(server, path, raw), 400)
    # NaN triggers a second parse of the same body: it must cap nesting as well
    raw = ('{"x": NaN, "y": ' + nested(DEEP) + "}").encode()
    error_of(post_raw(server, path, raw), 400)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "\xff\xfe", "messages": []}',
        b'{"model": "x", "messages": [], "temperature": NaN}',
        b'{"model": "x", "messages": [], "temperature": Infinity}',
        b'{"model": "x", "messages": [], "temperature": -Infinity}',
        b'{"model": "x", "messages": [}',
        b"",
        b"[]",
        b"\x00" * 100,
    ],
)
def test_invalid_json_is_400(server: Server, raw: bytes) -> None:
    error_of(post_raw(server, "/v1/chat/completions", raw), 400)


# --- chat completions (the chat service's limits) ----------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"n": 1_000_000},
        {"max_completion_tokens": 2**40},
        {"max_tokens": 2**40},
        {"messages": [{"role": "user", "content": "hi"}] * 100_000},
        {
            "tools": [
                {"type": "function", "function": {"name": f"f{i}", "parameters": {}}}
                for i in range(5_000)
            ]
        },
    ],
    ids=["n", "max_completion_tokens", "max_tokens", "messages", "tools"],
)
def test_huge_chat_requests_are_400(server: Server, overrides: dict[str, Any]) -> None:
    body = chat(**overrides)
    if "max_tokens" in overrides:
        del body["max_completion_tokens"]
    error_of(post_json(server, "/v1/chat/completions", body), 400)


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {
            "type": "object",
            "properties": {"child": {"$ref": "#"}},
            "required": ["child"],
            "additionalProperties": False,
        },
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}},
    ],
    ids=["self", "cycle", "recursive", "pattern"],
)
def test_hostile_response_format_schemas(server: Server, schema: dict[str, Any]) -> None:
    response = post_json(
        server,
        "/v1/chat/completions",
        chat(
            max_completion_tokens=8,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
        ),
    )
    if response.status_code != 200:
        error_of(response, 400)


# --- evals ------------------------------------------------------------------------------

CHECK = {
    "type": "string_check",
    "name": "c",
    "input": "{{item.a}}",
    "reference": "x",
    "operation": "eq",
}


def new_eval(server: Server, item_schema: dict[str, Any]) -> httpx2.Response:
    return post_json(
        server,
        "/v1/evals",
        {
            "data_source_config": {"type": "custom", "item_schema": item_schema},
            "testing_criteria": [CHECK],
        },
    )


def run(server: Server, eval_id: str, source: dict[str, Any]) -> httpx2.Response:
    return post_json(
        server,
        f"/v1/evals/{eval_id}/runs",
        {"data_source": {"type": "jsonl", "source": source}},
    )


def test_catastrophic_pattern_does_not_stall_the_server(server: Server) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(b+)+$": {"type": "string"}},
    }
    created = new_eval(server, schema)
    assert created.status_code == 200, created.text
    eval_id = created.json()["id"]
    items = [{"item": {"a": "a" * 64 + "!"}}, {"item": {"b" * 64 + "!": "x"}}]
    error = error_of(run(server, eval_id, {"type": "file_content", "content": items}), 400)
    assert error["code"] == "invalid_item"
    assert "does not match" in error["message"]
    healthy(server)
    good = [{"item": {"a": "a" * 64}}]
    assert run(server, eval_id, {"type": "file_content", "content": good}).status_code == 200


def test_unclosed_template_braces_do_not_stall_the_server(server: Server) -> None:
    body = {
        "data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
        "testing_criteria": [{**CHECK, "input": "{{" * 80_000, "reference": "{{ item.a }}"}],
    }
    response = post_json(server, "/v1/evals", body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "pattern", ["(?<=a)b", "(a)\\1", "[a-", "(" * 10_000 + ")" * 10_000, "a{1000}{1000}{1000}"]
)
def test_unsupported_or_huge_pattern_is_400(server: Server, pattern: str) -> None:
    error = error_of(new_eval(server, {"type": "string", "pattern": pattern}), 400)
    assert error["param"] == "data_source_config.item_schema"


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"type": "object", "properties": {"child": {"$ref": "#"}}},
    ],
    ids=["self", "cycle", "recursive"],
)
def test_recursive_item_schemas(server: Server, schema: dict[str, Any]) -> None:
    created = new_eval(server, schema)
    assert created.status_code == 200, created.text
    item: dict[str, Any] = {"a": "x"}
    for _ in range(150):  # about as deep as a JSON body may nest
        item = {"child": item}
    content = [{"item": item}]
    response = run(server, created.json()["id"], {"type": "file_content", "content": content})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "schema", [{"$ref": "https://example.com/s.json"}, {"$ref": "file:///etc/passwd"}]
)
def test_remote_refs_are_400(server: Server, schema: dict[str, Any]) -> None:
    error_of(new_eval(server, schema), 400)


def upload(client: openai.OpenAI, name: str, data: bytes, purpose: str) -> str:
    return client.files.create(file=(name, data), purpose=purpose).id  # type: ignore[arg-type]


def test_deeply_nested_jsonl_lines_are_400(server: Server, client: openai.OpenAI) -> None:
    deep = ('{"item": {"a": ' + nested(DEEP) + "}}\n").encode()
    created = new_eval(server, {"type": "object"})
    file_id = upload(client, "deep.jsonl", deep, "evals")
    error = error_of(run(server, created.json()["id"], {"type": "file_id", "id": file_id}), 400)
    assert "Line 1" in error["message"]
    line = '{"messages": ' + nested(DEEP) + "}\n"
    training = upload(client, "deep.jsonl", (line * 12).encode(), "fine-tune")
    response = post_json(
        server, "/v1/fine_tuning/jobs", {"model": MODEL, "training_file": training}
    )
    error_of(response, 400)


# --- files and lists ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../../../../../tmp/hearth-escape", "..\\..\\escape", "/etc/passwd", "a/../../b"]
)
def test_path_traversal_in_file_names_is_harmless(
    server: Server, client: openai.OpenAI, name: str
) -> None:
    created = client.files.create(file=(name, b"hello"), purpose="user_data")
    assert client.files.content(created.id).content == b"hello"
    assert not Path("/tmp/hearth-escape").exists()
    assert not (Path(server.log).parent / "escape").exists()
    client.files.delete(created.id)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/..%2F..%2Fhearth.db",
        "/v1/files/..%2F..%2Fhearth.db/content",
        "/v1/files/%2e%2e/content",
        "/v1/evals/..%2F..%2Fhearth.db",
        "/v1/evals/eval_x/runs/..%2Fx",
        "/v1/fine_tuning/jobs/..%2F..%2Fhearth.db",
        "/v1/chat/completions/..%2F..%2Fhearth.db",
        "/v1/models/..%2F..%2Fhearth.db",
    ],
)
def test_path_traversal_in_ids_is_404(server: Server, path: str) -> None:
    error_of(request(server, "GET", path), 404)


LISTS = [
    "/v1/files",
    "/v1/models",
    "/v1/chat/completions",
    "/v1/chat/completions/chatcmpl-x/messages",
    "/v1/evals",
    "/v1/evals/eval_x/runs",
    "/v1/evals/eval_x/runs/evalrun_x/output_items",
    "/v1/fine_tuning/jobs",
    "/v1/fine_tuning/jobs/ftjob-x/events",
    "/v1/fine_tuning/jobs/ftjob-x/checkpoints",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", ["-1", "0", "100001", "1" + "0" * 40, "9" * 5000, "1e3", "x"])
def test_bad_limit_is_400(server: Server, path: str, limit: str) -> None:
    response = request(server, "GET", path, params={"limit": limit})
    if path == "/v1/models":  # models.list takes no limit: ignored, as OpenAI does
        assert response.status_code == 200
        return
    assert error_of(response, 400)["param"] == "limit"


# --- audio ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["transcriptions", "translations"])
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("speech.mp3", b"this is not audio at all " * 100),
        ("speech.wav", os.urandom(4096)),
        ("speech.ogg", b"OggS" + b"\x00" * 200),
        ("speech.webm", json.dumps({"a": 1}).encode()),
    ],
)
def test_non_audio_bytes_are_400(server: Server, route: str, name: str, data: bytes) -> None:
    response = request(
        server,
        "POST",
        f"/v1/audio/{route}",
        files={"file": (name, data)},
        data={"model": "whisper-1"},
    )
    assert error_of(response, 400)["param"] == "file"


# --- metadata -------------------------------------------------------------------------------

KEYS = ["ключ", "键", "emoji🙂", "a\\b", 'q"uote', "dot.key", "$.x", "[0]", "a'b", " "]


def test_every_storable_metadata_key_is_findable(client: openai.OpenAI) -> None:
    stored = {}
    for i, key in enumerate(KEYS):
        metadata = {key: f'v{i}\\"é', "batch": "hostile-metadata"}
        completion = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hi"}],
            max_completion_tokens=1,
            store=True,
            metadata=metadata,
        )
        stored[key] = (completion.id, metadata)
    for key, (completion_id, metadata) in stored.items():
        found = client.chat.completions.list(metadata=metadata)
        assert [c.id for c in found.data] == [completion_id], key
        assert not client.chat.completions.list(metadata={key: "other"}).data


def test_nul_in_metadata_is_400(server: Server) -> None:
    for metadata in ({"a\x00b": "v"}, {"k": "a\x00b"}):
        body = chat(store=True, metadata=metadata)
        assert error_of(post_json(server, "/v1/chat/completions", body), 400)["param"] == "metadata"
        params = {f"metadata[{k}]": v for k, v in metadata.items()}
        response = request(server, "GET", "/v1/chat/completions", params=params)
        assert error_of(response, 400)["param"] == "metadata"


@pytest.mark.parametrize(
    "params",
    [
        {"metadata[" + "k" * 65 + "]": "v"},
        {"metadata[k]": "v" * 513},
        {f"metadata[k{i}]": "v" for i in range(17)},
    ],
    ids=["long key", "long value", "17 pairs"],
)
def test_metadata_filters_outside_openais_limits_are_400(
    server: Server, params: dict[str, str]
) -> None:
    for path in ("/v1/chat/completions", "/v1/fine_tuning/jobs"):
        assert error_of(request(server, "GET", path, params=params), 400)["param"] == "metadata"
