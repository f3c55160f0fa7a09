"""End to end: the official SDK against a real ``hearth serve`` process."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, MODEL, NO_EOG, database_url_for
from tests.e2e.conftest import Server, engine_stats, start_server, stop_server

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "Tell me a short story about a lighthouse."}]


def test_chat_and_stream_agree(sync_client: openai.OpenAI) -> None:
    kwargs = dict(model=MODEL, messages=USER, max_tokens=24, temperature=0.9, seed=42)
    full = sync_client.chat.completions.create(**kwargs)
    again = sync_client.chat.completions.create(**kwargs)
    assert full.choices[0].message.content and full.usage is not None
    assert again.choices[0].message.content == full.choices[0].message.content
    assert again.system_fingerprint == full.system_fingerprint
    stream = sync_client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == full.choices[0].message.content
    )
    assert chunks[-1].usage == full.usage


def test_raw_sse_framing(server: Server) -> None:
    body = {"model": MODEL, "messages": USER, "max_tokens": 3, "stream": True}
    with httpx2.stream(
        "POST",
        f"{server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    frames = [f for f in raw.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"


def test_errors_over_the_wire(server: Server, sync_client: openai.OpenAI) -> None:
    r = httpx2.post(
        f"{server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(openai.BadRequestError) as bad:
        sync_client.chat.completions.create(model=MODEL, messages=USER, n=0)
    assert bad.value.param == "n"
    with pytest.raises(openai.NotFoundError):
        sync_client.chat.completions.create(model="nope", messages=USER)
    with pytest.raises(openai.BadRequestError) as ctx:
        sync_client.chat.completions.create(model=MODEL, messages=USER, max_tokens=5000)
    assert ctx.value.code == "context_length_exceeded"
    anonymous = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


def _wait_idle(server: Server, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    stats = engine_stats(server)
    while time.monotonic() < deadline and (stats["active_sequences"] or stats["kv_positions"]):
        time.sleep(0.05)
        stats = engine_stats(server)
    return stats


def test_disconnect_cancels_and_frees_kv(server: Server) -> None:
    _wait_idle(server)
    before = engine_stats(server)["decoded_tokens"]
    body = {
        "model": MODEL,
        "messages": USER,
        "max_tokens": 1500,
        "stream": True,
        "logit_bias": NO_EOG,
    }
    with httpx2.stream(
        "POST",
        f"{server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(10)]
        assert any(line.startswith("data: ") for line in got)
        busy = engine_stats(server)
        assert busy["active_sequences"] == 1 and busy["kv_positions"]
    stats = _wait_idle(server)
    assert stats["active_sequences"] == 0
    assert stats["kv_positions"] == {}
    generated = int(stats["decoded_tokens"]) - int(before)
    assert generated < 1000  # stopped long before max_tokens


def test_disconnect_cancels_non_streamed_request(server: Server) -> None:
    _wait_idle(server)
    before = engine_stats(server)["decoded_tokens"]
    body = {"model": MODEL, "messages": USER, "max_tokens": 1900, "logit_bias": NO_EOG}
    with pytest.raises(httpx2.ReadTimeout):  # the client gives up and closes its connection
        httpx2.post(
            f"{server.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=httpx2.Timeout(30, read=2),
        )
    stats = _wait_idle(server)
    assert stats["active_sequences"] == 0
    assert stats["kv_positions"] == {}
    generated = int(stats["decoded_tokens"]) - int(before)
    assert 0 < generated < 1500  # it had started, and stopped long before max_tokens


def test_eight_concurrent_streams_share_decode_steps(server: Server) -> None:
    _wait_idle(server)
    before = engine_stats(server)

    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[str, str | None]:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Count to {i + 3}."}],
            max_tokens=32,
            stream=True,
            seed=i,
            logit_bias=NO_EOG,
        )
        parts, finish = [], None
        async for chunk in stream:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        return "".join(parts), finish

    async def run() -> list[tuple[str, str | None]]:
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(8)))

    results = asyncio.run(run())
    assert all(text and finish == "length" for text, finish in results)
    after = engine_stats(server)
    steps = int(after["steps"]) - int(before["steps"])
    # 8 x 32 sampled tokens; serialized decoding would need >= 256 steps
    assert steps < 128, steps


def test_first_start_prints_a_key_once(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    first = start_server(data)
    try:
        match = re.search(r"(sk-hearth-\S+)", first.output())
        assert match, first.output()
        key = match.group(1)
        with openai.OpenAI(base_url=f"{first.url}/v1", api_key=key, max_retries=0) as c:
            assert [m.id for m in c.models.list().data][0] == MODEL
    finally:
        stop_server(first)
    second = start_server(data)
    try:
        assert "sk-hearth-" not in second.output()
        with openai.OpenAI(base_url=f"{second.url}/v1", api_key=key, max_retries=0) as c:
            assert c.models.retrieve(MODEL).id == MODEL
    finally:
        stop_server(second)
    if database_url_for(data) is None:  # the SQLite file holds only the key's hash
        assert key not in (data / "hearth.db").read_bytes().decode("latin-1")


def test_extra_gguf_model_is_served(tmp_path: Path) -> None:
    from hearth.engine.weights import bundled_chat_model

    gguf = bundled_chat_model().path
    srv = start_server(tmp_path / "data", "--api-key", API_KEY, "--model", f"{gguf}=my-model")
    try:
        with openai.OpenAI(base_url=f"{srv.url}/v1", api_key=API_KEY, max_retries=0) as c:
            assert [m.id for m in c.models.list().data][:2] == [MODEL, "my-model"]
            out = c.chat.completions.create(
                model="my-model", max_tokens=4, messages=[{"role": "user", "content": "Hi"}]
            )
            assert out.model == "my-model" and out.choices[0].message.content
        assert "my-model" in srv.output()  # the log names every loaded model
    finally:
        stop_server(srv)
