"""A failure after a stream has started reaches the client as one error frame."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from hearth.engine.events import Event, Failed, TokenDelta
from hearth.engine.sequence import GenerationHandle
from hearth.errors import ServiceUnavailable
from tests.conftest import API_KEY, MODEL, NO_EOG

pytestmark = pytest.mark.anyio
BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Hello"}],
    "max_tokens": 50,
    "stream": True,
    "logit_bias": NO_EOG,
}


@pytest.fixture
def fail_after_two_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    real_next = GenerationHandle.next

    async def next_then_fail(self: GenerationHandle) -> Event:
        seen = getattr(self, "_seen", 0)
        if seen >= 2:
            self.cancel()
            return Failed(ServiceUnavailable("The engine stopped."))
        event = await real_next(self)
        self._seen = seen + int(isinstance(event, TokenDelta))  # type: ignore[attr-defined]
        return event

    monkeypatch.setattr(GenerationHandle, "next", next_then_fail)


@pytest.mark.usefixtures("fail_after_two_tokens")
async def test_error_frame_after_content(http: httpx2.AsyncClient) -> None:
    r = await http.post(
        "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert r.status_code == 200
    frames = [f.removeprefix("data: ") for f in r.text.split("\n\n") if f]
    assert "[DONE]" not in frames
    last = json.loads(frames[-1])
    assert last["error"]["code"] == "engine_unavailable"
    assert set(last["error"]) == {"message", "type", "param", "code"}
    contents = [json.loads(f)["choices"][0]["delta"].get("content") for f in frames[1:-1]]
    assert len([c for c in contents if c]) == 2


@pytest.mark.usefixtures("fail_after_two_tokens")
async def test_sdk_raises_on_error_frame(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(**BODY)
    with pytest.raises(openai.APIError, match="engine stopped"):
        async for _ in stream:
            pass
