"""GPT actions through the official SDK, in process, with the bundled model: an assistant
given an OpenAPI spec (``extra_body``, a Hearth extension) calls a small HTTP API this
test serves on loopback when a run forces the operation with ``tool_choice``; Hearth sends
the call with the stored credentials and feeds the answer back to the model. Also: specs
and servers refused at create, credentials encrypted at rest and never shown, and the
caller's limits (host allow-list, timeout, size cap, no redirects, HTTP errors)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import openai
import pytest

from hearth.services.assistants import runs as runs_module
from hearth.services.assistants.actions import Action, ActionCaller, compile_action
from hearth.services.container import Services
from tests.conftest import MODEL, new_project, sdk

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings(
        "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
    ),
]

TOKEN = "s3cret-weather-token"
WEATHER_FUNCTION: Any = {
    "type": "function",
    "function": {
        "name": "forecast",
        "parameters": {"type": "object", "properties": {"days": {"type": "integer"}}},
    },
}


class WeatherAPI(BaseHTTPRequestHandler):
    """``GET /api/weather/{city}?units=``, ``POST /api/notes``, and misbehaving routes."""

    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.seen.append(
            {"method": "GET", "path": url.path, "query": parse_qs(url.query), **self._auth()}
        )
        if url.path.startswith("/api/weather/"):
            city = url.path.rsplit("/", 1)[1]
            body = {"city": city, "temperature_c": 21, "conditions": "sunny"}
            self._send(200, json.dumps(body).encode())
        elif url.path == "/api/slow":
            time.sleep(2)
            self._send(200, b"{}")
        elif url.path == "/api/huge":
            self._send(200, b"x" * 200_000)
        elif url.path == "/api/moved":
            self._send(302, b"", {"Location": "http://example.com/"})
        else:
            self._send(500, b'{"message": "boom"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self.seen.append({"method": "POST", "path": self.path, "body": body, **self._auth()})
        self._send(201, json.dumps({"saved": True}).encode())

    def _auth(self) -> dict[str, Any]:
        return {
            "authorization": self.headers.get("Authorization"),
            "key": self.headers.get("X-Key"),
        }


class Quiet(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (the timeout and size cap tests) is expected


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = Quiet(("127.0.0.1", 0), WeatherAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def spec(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Weather", "version": "1.0"},
        "servers": [{"url": server}],
        "paths": {
            "/weather/{city}": {
                "get": {
                    "operationId": "getWeather",
                    "summary": "The current weather in a city.",
                    "parameters": [
                        {
                            "name": "city",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 16},
                        },
                        {
                            "name": "units",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["metric", "imperial"]},
                        },
                    ],
                    "responses": {"200": {"description": "The weather."}},
                }
            },
            "/notes": {
                "post": {
                    "operationId": "addNote",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Note"}}
                        },
                    },
                    "responses": {"201": {"description": "Saved."}},
                }
            },
        },
        "components": {
            "schemas": {
                "Note": {
                    "type": "object",
                    "properties": {"text": {"type": "string", "maxLength": 40}},
                    "required": ["text"],
                }
            }
        },
    }


@pytest.fixture
def allowed(running: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """Running runs, with loopback allowed for actions (as ``HEARTH_ACTION_HOSTS=
    ["127.0.0.1"]`` does)."""
    monkeypatch.setattr(running.assistants.action_caller, "hosts", {"127.0.0.1"})
    # the tiny model would call the action again and again: one round, then it answers
    monkeypatch.setattr(runs_module, "MAX_ACTION_ROUNDS", 1)
    return running


@pytest.fixture
async def client(services: Services, http: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return sdk(http, new_project(services)[1])


async def test_a_forced_action_calls_the_api_and_the_model_reads_the_answer(
    allowed: Services, client: openai.AsyncOpenAI, api: str
) -> None:
    assistant = await client.beta.assistants.create(
        model=MODEL,
        instructions="You report the weather using the getWeather action.",
        extra_body={
            "actions": [{"openapi": spec(api), "auth": {"type": "bearer", "token": TOKEN}}]
        },
    )
    shown = assistant.model_dump()["actions"]
    assert shown[0]["functions"] == ["getWeather", "addNote"]
    assert shown[0]["auth"] == {"type": "bearer"} and shown[0]["server_url"] == api
    assert TOKEN not in json.dumps(assistant.model_dump())
    owner = allowed.api_keys.verify(client.api_key)
    assert owner is not None
    row = allowed.assistants._repo.get(owner.project_id, assistant.id)
    assert row is not None and TOKEN not in json.dumps(row.gpt)  # encrypted at rest

    WeatherAPI.seen.clear()
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "getWeather"}},
        max_completion_tokens=120,
        temperature=0,
        poll_interval_ms=50,
    )
    assert run.status in ("completed", "incomplete"), run.last_error
    assert {t.function.name for t in run.tools if t.type == "function"} == {"getWeather", "addNote"}
    (call,) = [s for s in WeatherAPI.seen if s["path"].startswith("/api/weather/")]
    assert call["authorization"] == f"Bearer {TOKEN}"
    city = call["path"].rsplit("/", 1)[1]
    assert city  # the model's argument reached the path

    steps = (
        await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    ).data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    tool_step = steps[0]
    assert tool_step.status == "completed"
    (fn,) = tool_step.step_details.tool_calls  # type: ignore[union-attr]
    assert fn.type == "function" and fn.function.name == "getWeather"
    assert json.loads(fn.function.output or "") == {
        "city": city,
        "temperature_c": 21,
        "conditions": "sunny",
    }
    messages = await client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant"]
    assert run.usage is not None and run.usage.prompt_tokens > 0


async def test_a_json_body_action_with_an_api_key(
    allowed: Services, client: openai.AsyncOpenAI, api: str
) -> None:
    assistant = await client.beta.assistants.create(
        model=MODEL,
        instructions="You save notes with the addNote action.",
        extra_body={
            "actions": [
                {
                    "openapi": spec(api),
                    "auth": {"type": "api_key", "api_key": "k-123", "header": "X-Key"},
                }
            ]
        },
    )
    WeatherAPI.seen.clear()
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Save a note: buy milk."}]},
        tool_choice={"type": "function", "function": {"name": "addNote"}},
        max_completion_tokens=120,
        temperature=0,
        poll_interval_ms=50,
    )
    assert run.status in ("completed", "incomplete"), run.last_error
    (post,) = [s for s in WeatherAPI.seen if s["method"] == "POST"]
    assert post["key"] == "k-123" and post["authorization"] is None
    assert isinstance(post["body"], dict) and isinstance(post["body"]["text"], str)


async def test_specs_and_servers_refused_at_create(
    allowed: Services, client: openai.AsyncOpenAI, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(action: Any, **extra: Any) -> openai.BadRequestError:
        with pytest.raises(openai.BadRequestError) as info:
            await client.beta.assistants.create(
                model=MODEL, extra_body={"actions": [action]}, **extra
            )
        return info.value

    bad = spec(api)
    del bad["info"]
    err = await refused({"openapi": bad})
    assert err.body["param"] == "actions[0].openapi"  # type: ignore[index]
    assert "info" in err.body["message"]  # type: ignore[index]

    nameless = spec(api)
    del nameless["paths"]["/notes"]["post"]["operationId"]
    err = await refused({"openapi": nameless})
    assert err.body["param"] == "actions[0].openapi.paths./notes.post.operationId"  # type: ignore[index]

    err = await refused({"openapi": "openapi: [unclosed"})
    assert err.body["param"] == "actions[0].openapi"  # type: ignore[index]

    err = await refused({"openapi": spec(api), "auth": {"type": "oauth"}})
    assert err.body["param"] == "actions[0].auth"  # type: ignore[index]

    clash: Any = {"type": "function", "function": {"name": "getWeather"}}
    err = await refused({"openapi": spec(api)}, tools=[clash])
    assert "getWeather" in err.body["message"]  # type: ignore[index]

    # without the allow-list, loopback and private addresses are refused
    monkeypatch.setattr(allowed.assistants.action_caller, "hosts", set())
    for server in (api, "http://10.1.2.3/api", "http://localhost:9/api"):
        err = await refused({"openapi": spec(server)})
        assert err.body["param"] == "actions[0].openapi.servers"  # type: ignore[index]

    # a YAML spec is accepted as text, and update replaces the actions
    monkeypatch.setattr(allowed.assistants.action_caller, "hosts", {"127.0.0.1"})
    import yaml

    made = await client.beta.assistants.create(
        model=MODEL, extra_body={"actions": [{"openapi": yaml.safe_dump(spec(api))}]}
    )
    assert made.model_dump()["actions"][0]["auth"] == {"type": "none"}
    updated = await client.beta.assistants.update(made.id, extra_body={"actions": []})
    assert "actions" not in updated.model_dump() or not updated.model_dump()["actions"]


def weather(server: str, paths: dict[str, Any]) -> Action:
    doc = spec(server)
    doc["paths"] = paths
    url, operations = compile_action(doc, "actions[0].openapi")
    return Action(url, operations, {"type": "none"})


def get(op: str, path: str) -> dict[str, Any]:
    return {path: {"get": {"operationId": op, "responses": {"200": {"description": "ok"}}}}}


async def test_the_caller_keeps_its_limits(api: str) -> None:
    caller = ActionCaller({"127.0.0.1"}, timeout=0.5, max_bytes=100_000)
    paths = {**get("slow", "/slow"), **get("huge", "/huge"), **get("moved", "/moved")}
    action = weather(api, {**paths, **get("broken", "/broken")})
    slow = json.loads(await caller.call(action, "slow", "{}"))
    assert "did not answer within 0.5 s" in slow["error"]
    huge = json.loads(await caller.call(action, "huge", "{}"))
    assert "larger than 100000 bytes" in huge["error"]
    moved = json.loads(await caller.call(action, "moved", "{}"))
    assert moved["error"] == "the API answered HTTP 302"  # a redirect is not followed
    broken = json.loads(await caller.call(action, "broken", "{}"))
    assert broken["error"] == "the API answered HTTP 500" and "boom" in broken["body"]
    assert "not JSON" in json.loads(await caller.call(action, "broken", "{"))["error"]
    # a host off the list is called only when all its addresses are public
    strict = ActionCaller(set(), timeout=0.5, max_bytes=100_000)
    refused = json.loads(await strict.call(action, "slow", "{}"))
    assert "may not call '127.0.0.1'" in refused["error"]


async def test_an_assistant_exported_as_a_responses_request(
    allowed: Services, client: openai.AsyncOpenAI, http: httpx2.AsyncClient, api: str
) -> None:
    doc = await client.files.create(
        file=("notes.txt", b"Hearth runs on CPUs."), purpose="assistants"
    )
    assistant = await client.beta.assistants.create(
        model=MODEL,
        instructions="Answer briefly.",
        tools=[{"type": "file_search"}, WEATHER_FUNCTION],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [doc.id]}]}},
        temperature=0.5,
        response_format={"type": "json_object"},
        extra_body={"actions": [{"openapi": spec(api)}]},
    )
    got = await http.get(
        f"http://hearth.test/hearth/assistants/{assistant.id}/responses_template",
        headers={"Authorization": f"Bearer {client.api_key}"},
    )
    assert got.status_code == 200, got.text
    template = got.json()
    (store,) = assistant.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    assert template["model"] == MODEL and template["instructions"] == "Answer briefly."
    assert template["temperature"] == 0.5 and template["text"] == {
        "format": {"type": "json_object"}
    }
    assert [t["type"] for t in template["tools"]] == ["file_search", *["function"] * 3]
    assert template["tools"][0]["vector_store_ids"] == [store]
    assert [t.get("name") for t in template["tools"][1:]] == ["forecast", "getWeather", "addNote"]
    # the template is a request the Responses API takes as it is
    response = await client.responses.create(
        **template,
        input="Reply with a JSON object.",
        tool_choice="none",
        max_output_tokens=16,
    )
    assert response.status in ("completed", "incomplete")
    other = sdk(http, new_project(allowed)[1])
    missing = await http.get(
        f"http://hearth.test/hearth/assistants/{assistant.id}/responses_template",
        headers={"Authorization": f"Bearer {other.api_key}"},
    )
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "assistant_id"
