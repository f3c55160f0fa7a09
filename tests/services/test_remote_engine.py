"""Remote engines against a fake upstream (a small HTTP server in this process that
records each request and answers as vLLM or llama-server document it), driven through
the real SDK over an in-process app: the wire format each flavor gets (vLLM's
``structured_outputs`` and ``cache_salt``, llama-server's ``json_schema``, LoRA adapters
through ``/v1/load_lora_adapter``), Hearth's own objects back (ids, fingerprint, tool
calls, usage with cached tokens), the same 400s as a local model, upstream failures as
OpenAI-shaped errors, a client that leaves closing the upstream request, and usage,
rate-limit headers and stored completions as for a local model. The real upstreams are
in tests/e2e/test_remote_engine.py."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from hearth.config import RemoteModelConfig, Settings, remote_model_spec
from hearth.engine.registry import ExtraModel
from hearth.engine.remote import RemoteModel
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.container import Services
from tests.conftest import ADMIN_KEY, API_KEY, MODEL, app_sdk, free_port
from tests.conftest import test_settings as settings_for

pytestmark = pytest.mark.anyio


@dataclass
class Answer:
    """What the fake upstream sends: a JSON body, or SSE ``events`` (``pause`` seconds
    apart) with ``[DONE]`` after them."""

    status: int = 200
    body: Any = None
    events: list[Any] | None = None
    pause: float = 0.0


@dataclass
class Upstream:
    """The fake upstream's state: requests seen (path, headers, JSON body) and how it
    answers; ``left`` is set when a client went away in the middle of a stream."""

    url: str
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    answer: Callable[[str, Any], Answer] = lambda path, body: Answer(body={})
    left: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str) -> list[Any]:
        return [b for p, _, b in self.requests if p == path]


def _handler(state: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw) if raw else None
            state.requests.append(
                (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            answer = state.answer(self.path, body)
            if answer.events is None:
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    state.left.set()  # the client gave up waiting
                return
            self.send_response(answer.status)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            try:
                for event in [*answer.events, "[DONE]"]:
                    text = event if isinstance(event, str) else json.dumps(event)
                    self.wfile.write(f"data: {text}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(answer.pause)
            except (BrokenPipeError, ConnectionResetError):
                state.left.set()
            self.close_connection = True

    return Handler


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Upstream(f"http://127.0.0.1:{server.server_address[1]}/v1")
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(upstream: Upstream) -> Upstream:
    upstream.requests.clear()
    upstream.left.clear()
    return upstream


def _entry(model_id: str, url: str, **fields: Any) -> str:
    return json.dumps({"id": model_id, "base_url": url, **fields})


@pytest.fixture(scope="module")
def svc(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    down = f"http://127.0.0.1:{free_port()}/v1"
    settings = settings_for(
        tmp_path_factory.mktemp("remote"),
        bundled_models=False,
        audio=False,
        embeddings=False,
        code_interpreter=False,
        models=[
            _entry("big", upstream.url, model="org/Big-7B", flavor="vllm", api_key_env="UP_KEY"),
            _entry("cpp", upstream.url, flavor="llama-server"),
            _entry("plain", upstream.url),
            _entry("lcp", upstream.url, flavor="llama-cpp-python"),
            _entry("slow", upstream.url, timeout=0.5),
            f"{down}=down",
        ],
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("UP_KEY", "sk-upstream")
        services = Services.build(settings)
    yield services
    services.close()


@pytest.fixture
async def client(svc: Services) -> AsyncIterator[openai.AsyncOpenAI]:
    async with app_sdk(svc) as c:
        yield c
    for model in svc.registry.loaded():  # this test's loop ends: close its connections
        if isinstance(model, RemoteModel):
            await model.aclose()


def chat_answer(content: str = "Hi!", **extra: Any) -> Answer:
    return Answer(
        body={
            "id": "upstream-id",
            "object": "chat.completion",
            "created": 1,
            "model": "org/Big-7B",
            "system_fingerprint": "upstream-fp",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    **extra,
                }
            ],
            "usage": {
                "prompt_tokens": 1500,
                "completion_tokens": 3,
                "total_tokens": 1503,
                "prompt_tokens_details": {"cached_tokens": 1280},
            },
        }
    )


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def test_remote_entries_parse_from_env_and_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HEARTH_MODELS",
        json.dumps(
            [
                "local.gguf=mine",
                {"id": "qwen", "base_url": "http://gpu:8000/v1", "flavor": "vllm"},
                "http://cpp:8080/v1=smol",
            ]
        ),
    )
    engine = Settings().engine
    assert engine.models == ("local.gguf=mine",)
    assert [(m.id, m.flavor, m.upstream_model) for m in engine.remote_models] == [
        ("qwen", "vllm", "qwen"),
        ("smol", "openai", "smol"),
    ]
    assert remote_model_spec("model.gguf") is None
    with pytest.raises(ValueError):
        remote_model_spec('{"id": "x", "base_url": "ftp://nope"}')
    monkeypatch.setenv("HEARTH_MODELS", '["http://a/v1=x", "http://b/v1=x"]')
    with pytest.raises(ValueError, match="listed twice"):
        Settings()


async def test_vllm_structured_outputs_cache_salt_and_hearth_objects(
    fake: Upstream, client: openai.AsyncOpenAI, svc: Services
) -> None:
    fake.answer = lambda path, body: chat_answer('{"city": "Paris"}')
    completion = await client.chat.completions.create(
        model="big",
        messages=[{"role": "user", "content": "Where?"}],
        max_completion_tokens=20,
        temperature=0.3,
        top_p=0.9,
        seed=7,
        stop=["\n\n"],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": SCHEMA, "strict": True},
        },
    )
    [(path, headers, body)] = fake.requests
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-upstream"
    assert body["model"] == "org/Big-7B" and body["stream"] is False
    assert body["structured_outputs"] == {"json": SCHEMA}
    assert "response_format" not in body and "guided_json" not in body
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
        20,
        0.3,
        0.9,
        7,
    )
    assert body["stop"] == ["\n\n"]
    org = svc.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    salt = body["cache_salt"]
    assert org not in salt and len(salt) == 64
    assert salt == hashlib.sha256(f"hearth-prompt-cache|{org}".encode()).hexdigest()

    assert completion.id.startswith("chatcmpl-") and completion.id != "upstream-id"
    assert completion.model == "big"
    assert completion.system_fingerprint and completion.system_fingerprint != "upstream-fp"
    assert completion.choices[0].message.content == '{"city": "Paris"}'
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (1500, 3)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 1280


async def test_same_400s_as_a_local_model(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="big",
            messages=[{"role": "user", "content": "x"}],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "bad",
                    "strict": True,
                    "schema": {"type": "object", "not": {"type": "string"}},
                },
            },
        )
    assert caught.value.code == "invalid_json_schema"
    assert caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="big",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
    assert caught.value.param == "messages"
    assert fake.requests == []  # refused before the upstream saw anything


async def test_llama_server_json_schema_and_timings(
    fake: Upstream, client: openai.AsyncOpenAI
) -> None:
    def answer(path: str, body: Any) -> Answer:
        out = chat_answer('{"city": "Oslo"}')
        out.body["usage"] = {"prompt_tokens": 2000, "completion_tokens": 4, "total_tokens": 2004}
        out.body["timings"] = {"cache_n": 1100, "prompt_n": 900}
        return out

    fake.answer = answer
    completion = await client.chat.completions.create(
        model="cpp",
        messages=[{"role": "user", "content": "Where?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": SCHEMA, "strict": True},
        },
    )
    [body] = fake.bodies("/v1/chat/completions")
    assert body["json_schema"] == SCHEMA and "cache_salt" not in body
    assert "structured_outputs" not in body and "response_format" not in body
    assert completion.usage and completion.usage.prompt_tokens_details
    assert completion.usage.prompt_tokens_details.cached_tokens == 1100


async def test_llama_cpp_flavors_tool_choice_and_schema(
    fake: Upstream, client: openai.AsyncOpenAI
) -> None:
    fake.answer = lambda path, body: chat_answer("{}")
    named = {"type": "function", "function": {"name": "get_weather"}}
    other = {"type": "function", "function": {"name": "other", "parameters": {}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA, "strict": True}}
    for model in ("cpp", "lcp"):
        await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[*TOOLS, other],  # type: ignore[list-item]
            tool_choice=named,  # type: ignore[arg-type]
        )
        await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Where?"}],
            response_format=fmt,  # type: ignore[arg-type]
        )
    cpp_tools, cpp_schema, lcp_tools, lcp_schema = fake.bodies("/v1/chat/completions")
    # llama-server reads only "auto" / "none" / "required": the named tool alone, required
    assert cpp_tools["tool_choice"] == "required" and cpp_tools["tools"] == TOOLS
    assert lcp_tools["tool_choice"] == named and len(lcp_tools["tools"]) == 2
    assert cpp_schema["json_schema"] == SCHEMA
    assert lcp_schema["response_format"] == {"type": "json_object", "schema": SCHEMA}


async def test_openai_flavor_passes_response_format(
    fake: Upstream, client: openai.AsyncOpenAI
) -> None:
    fake.answer = lambda path, body: chat_answer('{"city": "Rome"}')
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    await client.chat.completions.create(
        model="plain",
        messages=[{"role": "user", "content": "Where?"}],
        response_format=fmt,  # type: ignore[typeddict-item]
    )
    [body] = fake.bodies("/v1/chat/completions")
    assert body["response_format"] == fmt and body["model"] == "plain"


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


TOOL_EVENTS = [
    _chunk({"role": "assistant", "content": None}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "chatcmpl-tool-1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    _chunk({}, "tool_calls"),
    {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 9,
            "total_tokens": 1209,
            "prompt_tokens_details": {"cached_tokens": 1024},
        },
    },
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


async def test_streamed_tool_calls_and_usage(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    fake.answer = lambda path, body: Answer(events=TOOL_EVENTS)
    stream = await client.chat.completions.create(
        model="big",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,  # type: ignore[list-item]
        tool_choice="auto",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    [body] = fake.bodies("/v1/chat/completions")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    calls = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or []]
    assert calls[0].id and calls[0].id.startswith("call_") and calls[0].id != "chatcmpl-tool-1"
    assert calls[0].function and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(arguments) == {"city": "Paris"}
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["tool_calls"]
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    last = chunks[-1]
    assert last.choices == [] and last.usage and last.usage.prompt_tokens == 1200
    assert last.usage.prompt_tokens_details
    assert last.usage.prompt_tokens_details.cached_tokens == 1024


async def test_tool_calls_answered_whole(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    def answer(path: str, body: Any) -> Answer:
        out = chat_answer()
        out.body["choices"][0] = {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "up-1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
        }
        return out

    fake.answer = answer
    completion = await client.chat.completions.create(
        model="big",
        messages=[{"role": "user", "content": "Weather in Rome?"}],
        tools=TOOLS,  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Rome"}  # type: ignore[union-attr]


async def test_reasoning_content_is_kept(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    def answer(path: str, body: Any) -> Answer:
        out = chat_answer("42")
        out.body["choices"][0]["message"]["reasoning_content"] = "Six times seven."
        return out

    fake.answer = answer
    completion = await client.chat.completions.create(
        model="big", messages=[{"role": "user", "content": "6*7?"}], reasoning_effort="low"
    )
    [body] = fake.bodies("/v1/chat/completions")
    assert body["reasoning_effort"] == "low"
    message = completion.choices[0].message
    assert message.content == "42"
    assert message.model_extra and message.model_extra["reasoning_content"] == "Six times seven."


async def test_logprobs_and_n(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    def answer(path: str, body: Any) -> Answer:
        entry = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
        out = chat_answer("Hi")
        first = out.body["choices"][0]
        first["logprobs"] = {"content": [entry]}
        out.body["choices"] = [first, {**first, "index": 1}]
        return out

    fake.answer = answer
    completion = await client.chat.completions.create(
        model="big",
        messages=[{"role": "user", "content": "Hi"}],
        n=2,
        logprobs=True,
        top_logprobs=0,
    )
    [body] = fake.bodies("/v1/chat/completions")
    assert (body["n"], body["logprobs"], body["top_logprobs"]) == (2, True, 0)
    assert [c.index for c in completion.choices] == [0, 1]
    lp = completion.choices[1].logprobs
    assert lp and lp.content and lp.content[0].token == "Hi" and lp.content[0].logprob == -0.5


async def test_legacy_completions(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    fake.answer = lambda path, body: Answer(
        body={
            "id": "u",
            "object": "text_completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "text": " a time", "logprobs": None, "finish_reason": "length"}
            ],
            "usage": usage,
        }
    )
    completion = await client.completions.create(model="big", prompt="Once upon", max_tokens=2)
    [(path, _, body)] = fake.requests
    assert path == "/v1/completions" and body["prompt"] == "Once upon" and "cache_salt" in body
    assert completion.id.startswith("cmpl-") and completion.model == "big"
    assert completion.choices[0].text == " a time" and completion.usage
    assert completion.usage.total_tokens == 5

    fake.requests.clear()
    piece = {"id": "u", "object": "text_completion", "created": 1, "model": "m"}
    fake.answer = lambda path, body: Answer(
        events=[
            {**piece, "choices": [{"index": 0, "text": " a", "finish_reason": None}]},
            {**piece, "choices": [{"index": 0, "text": " time", "finish_reason": "length"}]},
            {**piece, "choices": [], "usage": usage},
        ]
    )
    stream = await client.completions.create(
        model="big",
        prompt="Once upon",
        max_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " a time"
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens == 2


async def test_upstream_errors(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="down", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.status_code == 503
    body = caught.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "upstream_unavailable"

    message = "This model's maximum context length is 4096 tokens."
    fake.answer = lambda path, body: Answer(
        status=400, body={"error": {"message": message, "type": "BadRequestError", "code": 400}}
    )
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(
            model="big", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    assert bad.value.status_code == 400 and message in str(bad.value)
    fake.answer = lambda path, body: Answer(status=404, body={"detail": "Not Found"})
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="plain", prompt="x")

    fake.answer = lambda path, body: Answer(events=[_chunk({"content": "late"})], pause=2.0)
    fake.answer = _slow_whole
    with pytest.raises(openai.InternalServerError) as slow:
        await client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "Hi"}]
        )
    assert slow.value.response.json()["error"]["code"] == "upstream_timeout"


def _slow_whole(path: str, body: Any) -> Answer:
    time.sleep(1.0)
    return chat_answer()


async def test_client_that_leaves_closes_the_upstream_request(
    fake: Upstream, client: openai.AsyncOpenAI, svc: Services
) -> None:
    # the service's stream, as the SSE route drives it (closed when the client leaves)
    fake.answer = lambda path, body: Answer(
        events=[_chunk({"content": f"w{i} "}) for i in range(200)], pause=0.02
    )
    caller = svc.api_keys.verify(API_KEY)
    assert caller is not None
    params = ChatCompletionParams.model_validate(
        {"model": "big", "messages": [{"role": "user", "content": "Talk"}]}
    )
    stream = await svc.chat.stream(caller, params)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert await _waited(fake.left.is_set, 5)
    assert await _waited(lambda: svc.registry.loaded()[0].stats.active_requests == 0, 5)


async def _waited(check: Callable[[], bool], seconds: float) -> bool:
    import asyncio

    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_usage_limits_and_storage_as_for_local_models(
    fake: Upstream, client: openai.AsyncOpenAI, svc: Services
) -> None:
    start = int(time.time())
    fake.answer = lambda path, body: chat_answer("Stored answer")
    raw = await client.chat.completions.with_raw_response.create(
        model="big",
        messages=[{"role": "user", "content": "Keep this"}],
        store=True,
        metadata={"topic": "remote"},
    )
    assert raw.headers["x-ratelimit-limit-requests"]
    assert raw.headers["x-ratelimit-remaining-tokens"]
    completion = raw.parse()
    stored = await client.chat.completions.retrieve(completion.id)
    assert stored.choices[0].message.content == "Stored answer"
    assert stored.metadata == {"topic": "remote"} and stored.model == "big"
    messages = await client.chat.completions.messages.list(completion.id)
    assert [m.content for m in messages.data] == ["Keep this"]

    async with app_sdk(svc) as other:
        admin = other.with_options(admin_api_key=ADMIN_KEY)
        page = await admin.admin.organization.usage.completions(
            start_time=start, group_by=["model"], models=["big"]
        )
    [result] = [r for b in page.data for r in b.results]
    assert result.model == "big" and result.num_model_requests >= 1
    assert result.input_tokens >= 1500 and result.input_cached_tokens >= 1280


async def test_responses_run_on_a_remote_model(fake: Upstream, client: openai.AsyncOpenAI) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    fake.answer = lambda path, body: Answer(
        events=[
            _chunk({"role": "assistant", "content": "Hello"}),
            _chunk({"content": " there"}),
            _chunk({}, "stop"),
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [],
                "usage": usage,
            },
        ]
    )
    response = await client.responses.create(model="big", input="Hi")
    assert response.output_text == "Hello there"
    assert response.usage and response.usage.input_tokens == 5
    [body] = fake.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "user", "content": "Hi"}] and body["stream"] is True


async def test_models_list_and_engine_stats(client: openai.AsyncOpenAI, svc: Services) -> None:
    models = {m.id: m for m in (await client.models.list()).data}
    assert {"big", "cpp", "plain", "down"} <= set(models)
    assert models["big"].owned_by == "hearth"
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.delete("big")
    stats = {m.id: m.stats for m in svc.registry.loaded()}
    assert stats["big"].active_requests == 0


class _Catalog:
    def __init__(self, extra: ExtraModel) -> None:
        self.extra = extra

    def resolve(self, model_id: str) -> ExtraModel | None:
        return self.extra if model_id == self.extra.id else None

    def list(self, organization_id: str) -> list[ExtraModel]:
        return [self.extra] if organization_id == self.extra.owner else []

    def delete(self, model_id: str, organization_id: str) -> bool:
        return False


async def test_lora_adapter_loaded_on_vllm(
    fake: Upstream, client: openai.AsyncOpenAI, svc: Services
) -> None:
    org = svc.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    name = "ft:big:org:custom:abc123"
    extra = ExtraModel(name, Path("/shared/ft/final/model.gguf"), org, 5, "big", "/shared/ft")
    catalog = svc.registry.catalog
    svc.registry.set_catalog(_Catalog(extra))
    try:

        def answer(path: str, body: Any) -> Answer:
            if path == "/v1/load_lora_adapter":
                return Answer(body="Success: LoRA adapter loaded.")
            return chat_answer()

        fake.answer = answer
        for _ in range(2):
            done = await client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "Hi"}]
            )
            assert done.model == name
        paths = [p for p, _, _ in fake.requests]
        assert paths == ["/v1/load_lora_adapter", "/v1/chat/completions", "/v1/chat/completions"]
        assert fake.requests[0][2] == {"lora_name": name, "lora_path": "/shared/ft"}
        assert all(b["model"] == name for b in fake.bodies("/v1/chat/completions"))
        assert name in {m.id for m in (await client.models.list()).data}
    finally:
        svc.registry.forget(name)
        svc.registry.set_catalog(catalog)


def test_config_is_frozen() -> None:
    spec = RemoteModelConfig(id="a", base_url="http://x/v1")
    assert spec.upstream_model == "a" and spec.flavor == "openai"


def test_weights_must_name_a_local_model(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        bundled_models=False,
        audio=False,
        embeddings=False,
        code_interpreter=False,
        models=[_entry("big", "http://127.0.0.1:9/v1", flavor="vllm", weights="nowhere")],
    )
    with pytest.raises(ValueError, match="'nowhere', which is not a model served here"):
        Services.build(settings)


@pytest.fixture(scope="module")
def twin_svc(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The bundled model served here, and "twin": the same weights on the fake upstream."""
    settings = settings_for(
        tmp_path_factory.mktemp("twin"),
        audio=False,
        embeddings=False,
        code_interpreter=False,
        models=[_entry("twin", upstream.url, flavor="vllm", weights=MODEL)],
    )
    services = Services.build(settings)
    yield services
    services.close()


async def test_local_weights_count_a_remote_models_tokens(
    fake: Upstream, twin_svc: Services
) -> None:
    """With ``weights``, input tokens are counted here (as for the local model with the same
    weights), and a stream whose upstream reports no usage is billed that count."""
    async with app_sdk(twin_svc) as client:
        question = "Name three rivers."
        counted = await client.responses.input_tokens.count(model="twin", input=question)
        local = await client.responses.input_tokens.count(model=MODEL, input=question)
        assert counted.input_tokens == local.input_tokens > 5
        fake.answer = lambda path, body: Answer(
            events=[_chunk({"role": "assistant", "content": "Nile"}), _chunk({}, "stop")]
        )
        stream = await client.chat.completions.create(
            model="twin",
            messages=[{"role": "user", "content": "Name three rivers."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        direct = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Name three rivers."}], max_tokens=1
        )
        for model in twin_svc.registry.loaded():
            if isinstance(model, RemoteModel):
                await model.aclose()
    assert chunks[-1].usage is not None and direct.usage is not None
    assert chunks[-1].usage.prompt_tokens == direct.usage.prompt_tokens


async def test_without_weights_input_tokens_are_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="names its local `weights`"):
        await client.responses.input_tokens.count(model="big", input="Hi")
