"""The Responses runtime's ``code_interpreter`` tool over a real container, with the
model's side scripted (a fake chat stream calling the tool with fixed code, then
answering): OpenAI's events in order, outputs (logs and a PNG), the container file
citation, and the call replayed to the model. The same path with the real bundled model
is tested through the SDK in tests/api/test_responses_code_interpreter.py."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk
from PIL import Image

from hearth.domain import Principal
from hearth.sandbox import Sandboxes
from hearth.services.responses.items import normalize, to_messages
from hearth.services.responses.params import CodeInterpreterToolParam, CreateParams
from hearth.services.responses.runtime import CodeRun, Setup, Turn

pytestmark = pytest.mark.anyio

CODE = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 2, 3], [1, 4, 9]); plt.savefig('/mnt/data/squares.png'); plt.close()\n"
    "print(6 * 7)\n"
)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


class _Chat:
    """Calls ``code_interpreter`` with ``CODE`` first, then answers; records what the
    model was sent."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def stream(self, caller: Principal, params: Any) -> AsyncIterator[Any]:
        self.calls.append(params)
        first = len(self.calls) == 1

        async def chunks() -> AsyncIterator[Any]:
            if first:
                arguments = json.dumps({"code": CODE})
                call = {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "code_interpreter", "arguments": arguments[:10]},
                }
                yield _chunk({"tool_calls": [call]})
                rest = {"index": 0, "function": {"arguments": arguments[10:]}}
                yield _chunk({"tool_calls": [rest]}, finish="tool_calls")
            else:
                yield _chunk({"content": "The answer is 42."}, finish="stop")

        return chunks()


async def test_code_interpreter_call_events_outputs_and_citation(
    sandboxes: Sandboxes, container: str
) -> None:
    async def interpret(code: str) -> CodeRun:
        before = {f.path for f in await sandboxes.list_files(container)}
        execution = await sandboxes.run(container, code)
        new = [f for f in await sandboxes.list_files(container) if f.path not in before]
        return CodeRun(
            execution, [(f"cfile_{n}", f.path.rsplit("/", 1)[1]) for n, f in enumerate(new)]
        )

    tool = {"type": "code_interpreter", "container": container}
    params = CreateParams.model_validate(
        {
            "model": "m",
            "input": "Plot squares and compute 6*7.",
            "tools": [tool],
            "tool_choice": {"type": "code_interpreter"},
            "include": ["code_interpreter_call.outputs"],
        }
    )
    setup = Setup(
        caller=Principal.for_project("org", "proj"),
        params=params,
        response_id="resp_1",
        created_at=1,
        model="m",
        context=[],
        input_items=normalize("Plot squares and compute 6*7."),
        functions=[],
        file_search=None,
        code_interpreter=CodeInterpreterToolParam.model_validate(tool),
        container_id=container,
        interpret=interpret,
    )
    chat: Any = _Chat()
    turn = Turn(setup, chat)
    await turn.begin()
    events = [event async for event in turn.events()]
    types = [e.type for e in events]
    assert types[:9] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.output_item.done",
    ]
    assert "response.output_text.annotation.added" in types
    assert types[-1] == "response.completed"
    final = turn.final
    assert final is not None and final.status == "completed"
    call, message = final.output
    assert call.type == "code_interpreter_call"
    assert call.code == CODE and call.container_id == container and call.status == "completed"
    assert call.outputs is not None
    logs = [o for o in call.outputs if o.type == "logs"]
    images = [o for o in call.outputs if o.type == "image"]
    assert logs and logs[0].logs == "42\n"
    assert len(images) == 1 and images[0].url.startswith("data:image/png;base64,")
    png = base64.b64decode(images[0].url.split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert message.type == "message" and final.output_text == "The answer is 42."
    (annotation,) = message.content[0].annotations  # type: ignore[union-attr]
    assert annotation.type == "container_file_citation"
    assert annotation.container_id == container and annotation.filename == "squares.png"
    # the model's second call read the code and its output back as a tool exchange
    messages = chat.calls[1].messages
    assert messages[-2].tool_calls[0].function.name == "code_interpreter"
    assert json.loads(messages[-2].tool_calls[0].function.arguments) == {"code": CODE}
    assert messages[-1].role == "tool" and "42" in messages[-1].content
    # the stored item replays into the same messages on the next turn
    replay = to_messages([item.model_dump() for item in final.output[:1]], None)
    assert replay[-1].role == "tool" and "42" in (replay[-1].content or "")
