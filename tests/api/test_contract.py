"""The contract test: every object kind, fetched over HTTP from the in-process app, validates
strictly as the ``openai`` SDK's own type (``tests/contract.py``), with no field the type
does not declare. Kinds only a trained model makes (checkpoints of a real run, a deleted
fine-tuned model) are checked in tests/e2e/test_fine_tuning.py with the same ``check``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import httpx2
import pytest

from hearth.sandbox import Sandboxes
from hearth.services.container import Services
from tests.conftest import ADMIN_KEY, API_KEY, MODEL
from tests.contract import check, check_list

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def _ok(response: httpx2.Response) -> bytes:
    assert response.status_code == 200, response.text
    return response.content


async def test_models(http: httpx2.AsyncClient) -> None:
    listing = check_list("model", await _ok(await http.get("/v1/models", headers=AUTH)))
    assert any(m.id == MODEL for m in listing.data)
    check("model", await _ok(await http.get(f"/v1/models/{MODEL}", headers=AUTH)))


async def test_files(http: httpx2.AsyncClient) -> None:
    created = check(
        "file",
        await _ok(
            await http.post(
                "/v1/files",
                headers=AUTH,
                data={"purpose": "user_data"},
                files={"file": ("notes.txt", b"hello")},
            )
        ),
    )
    file_id = created.id  # type: ignore[attr-defined]
    check("file", await _ok(await http.get(f"/v1/files/{file_id}", headers=AUTH)))
    check_list("file", await _ok(await http.get("/v1/files", headers=AUTH)))
    check("file.deleted", await _ok(await http.delete(f"/v1/files/{file_id}", headers=AUTH)))


async def test_embeddings(http: httpx2.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"}
    check("embedding.list", await _ok(await http.post("/v1/embeddings", headers=AUTH, json=body)))


async def test_vector_stores_files_batches_search(
    http: httpx2.AsyncClient, services: Services
) -> None:
    await services.vector_stores.start()
    try:
        up = await http.post(
            "/v1/files",
            headers=AUTH,
            data={"purpose": "assistants"},
            files={"file": ("notes.md", b"# Notes\n\nThe foghorn is tuned to 212 Hz.")},
        )
        file_id = (await _ok(up)) and up.json()["id"]
        bad = await http.post(
            "/v1/files",
            headers=AUTH,
            data={"purpose": "assistants"},
            files={"file": ("broken.pdf", b"%PDF-1.7 not really")},
        )
        bad_id = (await _ok(bad)) and bad.json()["id"]
        store = check(
            "vector_store",
            await _ok(
                await http.post(
                    "/v1/vector_stores",
                    headers=AUTH,
                    json={
                        "name": "contract",
                        "expires_after": {"anchor": "last_active_at", "days": 7},
                    },
                )
            ),
        )
        base = f"/v1/vector_stores/{store.id}"  # type: ignore[attr-defined]
        check(
            "vector_store.file",
            await _ok(
                await http.post(
                    f"{base}/files",
                    headers=AUTH,
                    json={"file_id": file_id, "attributes": {"n": 1, "ok": True, "s": "x"}},
                )
            ),
        )
        batch = check(
            "vector_store.files_batch",
            await _ok(
                await http.post(f"{base}/file_batches", headers=AUTH, json={"file_ids": [bad_id]})
            ),
        )
        for _ in range(200):
            listed = check_list(
                "vector_store.file", await _ok(await http.get(f"{base}/files", headers=AUTH))
            )
            if all(f.status != "in_progress" for f in listed.data):  # type: ignore[attr-defined]
                break
            await anyio.sleep(0.05)
        assert {f.status for f in listed.data} == {"completed", "failed"}  # type: ignore[attr-defined]
        check("vector_store", await _ok(await http.get(base, headers=AUTH)))
        check_list("vector_store", await _ok(await http.get("/v1/vector_stores", headers=AUTH)))
        check(
            "vector_store",
            await _ok(await http.post(base, headers=AUTH, json={"metadata": {"a": "b"}})),
        )
        batch_path = f"{base}/file_batches/{batch.id}"  # type: ignore[attr-defined]
        check("vector_store.files_batch", await _ok(await http.get(batch_path, headers=AUTH)))
        check_list(
            "vector_store.file", await _ok(await http.get(f"{batch_path}/files", headers=AUTH))
        )
        check(
            "vector_store.files_batch",
            await _ok(await http.post(f"{batch_path}/cancel", headers=AUTH)),
        )
        check(
            "vector_store.file",
            await _ok(await http.get(f"{base}/files/{bad_id}", headers=AUTH)),
        )
        check(
            "vector_store.file",
            await _ok(
                await http.post(
                    f"{base}/files/{file_id}", headers=AUTH, json={"attributes": {"n": 2}}
                )
            ),
        )
        page = check(
            "vector_store.search_results.page",
            await _ok(await http.post(f"{base}/search", headers=AUTH, json={"query": "foghorn"})),
        )
        assert page.data  # type: ignore[attr-defined]
        check(
            "vector_store.file_content.page",
            await _ok(await http.get(f"{base}/files/{file_id}/content", headers=AUTH)),
        )
        check(
            "vector_store.file.deleted",
            await _ok(await http.delete(f"{base}/files/{file_id}", headers=AUTH)),
        )
        check("vector_store.deleted", await _ok(await http.delete(base, headers=AUTH)))
    finally:
        await services.vector_stores.stop()


async def test_containers_and_their_files(http: httpx2.AsyncClient, sandboxes: Sandboxes) -> None:
    container = check(
        "container.create",
        await _ok(
            await http.post(
                "/v1/containers", headers=AUTH, json={"name": "contract", "memory_limit": "1g"}
            )
        ),
    )
    base = f"/v1/containers/{container.id}"  # type: ignore[attr-defined]
    check("container.retrieve", await _ok(await http.get(base, headers=AUTH)))
    check_list("container.list_item", await _ok(await http.get("/v1/containers", headers=AUTH)))
    uploaded = check(
        "container.file.create",
        await _ok(
            await http.post(f"{base}/files", headers=AUTH, files={"file": ("a.txt", b"hello")})
        ),
    )
    stored = check(
        "file",
        await _ok(
            await http.post(
                "/v1/files",
                headers=AUTH,
                data={"purpose": "user_data"},
                files={"file": ("b.txt", b"world")},
            )
        ),
    )
    check(
        "container.file.create",
        await _ok(
            await http.post(f"{base}/files", headers=AUTH, json={"file_id": stored.id})  # type: ignore[attr-defined]
        ),
    )
    file_path = f"{base}/files/{uploaded.id}"  # type: ignore[attr-defined]
    check("container.file.retrieve", await _ok(await http.get(file_path, headers=AUTH)))
    check_list("container.file.list_item", await _ok(await http.get(f"{base}/files", headers=AUTH)))
    assert await _ok(await http.get(f"{file_path}/content", headers=AUTH)) == b"hello"
    check("container.file.deleted", await _ok(await http.delete(file_path, headers=AUTH)))
    check("container.deleted", await _ok(await http.delete(base, headers=AUTH)))


async def test_assistants_threads_and_messages(http: httpx2.AsyncClient) -> None:
    up = await http.post(
        "/v1/files",
        headers=AUTH,
        data={"purpose": "assistants"},
        files={"file": ("notes.md", b"# Notes\n\nThe foghorn is tuned to 212 Hz.")},
    )
    file_id = (await _ok(up)) and up.json()["id"]
    beta = {**AUTH, "OpenAI-Beta": "assistants=v2"}
    weather = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = {
        "model": MODEL,
        "name": "contract",
        "instructions": "Be brief.",
        "tools": [
            {"type": "code_interpreter"},
            {"type": "file_search", "file_search": {"max_num_results": 3}},
            {"type": "function", "function": {"name": "get_weather", "parameters": weather}},
        ],
        "tool_resources": {
            "code_interpreter": {"file_ids": [file_id]},
            "file_search": {"vector_stores": [{"file_ids": [file_id]}]},
        },
        "metadata": {"k": "v"},
        "response_format": {"type": "json_object"},
    }
    assistant = check(
        "assistant", await _ok(await http.post("/v1/assistants", headers=beta, json=body))
    )
    base = f"/v1/assistants/{assistant.id}"  # type: ignore[attr-defined]
    check("assistant", await _ok(await http.get(base, headers=beta)))
    check("assistant", await _ok(await http.post(base, headers=beta, json={"top_p": 0.5})))
    check_list("assistant", await _ok(await http.get("/v1/assistants", headers=beta)))

    attachment = {"file_id": file_id, "tools": [{"type": "file_search"}]}
    thread = check(
        "thread",
        await _ok(
            await http.post(
                "/v1/threads",
                headers=beta,
                json={
                    "messages": [{"role": "user", "content": "Hi", "attachments": [attachment]}],
                    "metadata": {"k": "v"},
                },
            )
        ),
    )
    tbase = f"/v1/threads/{thread.id}"  # type: ignore[attr-defined]
    check("thread", await _ok(await http.get(tbase, headers=beta)))
    check("thread", await _ok(await http.post(tbase, headers=beta, json={"metadata": {}})))
    message = check(
        "thread.message",
        await _ok(
            await http.post(
                f"{tbase}/messages",
                headers=beta,
                json={
                    "role": "user",
                    "content": [{"type": "text", "text": "Hello"}],
                    "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
                },
            )
        ),
    )
    mbase = f"{tbase}/messages/{message.id}"  # type: ignore[attr-defined]
    check("thread.message", await _ok(await http.get(mbase, headers=beta)))
    check("thread.message", await _ok(await http.post(mbase, headers=beta, json={"metadata": {}})))
    check_list("thread.message", await _ok(await http.get(f"{tbase}/messages", headers=beta)))
    check("thread.message.deleted", await _ok(await http.delete(mbase, headers=beta)))
    check("thread.deleted", await _ok(await http.delete(tbase, headers=beta)))
    check("assistant.deleted", await _ok(await http.delete(base, headers=beta)))


def _assistant_kind(event: str) -> str:
    """The contract kind of an Assistants stream event's data."""
    if event.endswith(".delta"):
        return event
    for prefix in ("thread.run.step", "thread.message", "thread.run"):
        if event.startswith(prefix + "."):
            return prefix
    return "thread"  # thread.created


async def test_runs_steps_and_their_stream(http: httpx2.AsyncClient, services: Services) -> None:
    beta = {**AUTH, "OpenAI-Beta": "assistants=v2"}
    body = {"model": MODEL, "instructions": "Be brief."}
    assistant = await _ok(await http.post("/v1/assistants", headers=beta, json=body))
    assistant_id = json.loads(assistant)["id"]
    await services.runs.start()
    try:
        run_body = {
            "assistant_id": assistant_id,
            "thread": {"messages": [{"role": "user", "content": "Hi"}]},
            "max_completion_tokens": 8,
            "metadata": {"k": "v"},
        }
        run = check(
            "thread.run",
            await _ok(await http.post("/v1/threads/runs", headers=beta, json=run_body)),
        )
        base = f"/v1/threads/{run.thread_id}/runs"  # type: ignore[attr-defined]
        for _ in range(600):
            current = check(
                "thread.run",
                await _ok(await http.get(f"{base}/{run.id}", headers=beta)),  # type: ignore[attr-defined]
            )
            if current.status not in ("queued", "in_progress"):  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        check_list("thread.run", await _ok(await http.get(base, headers=beta)))
        steps = f"{base}/{run.id}/steps"  # type: ignore[attr-defined]
        page = check_list("thread.run.step", await _ok(await http.get(steps, headers=beta)))
        step_id = page.data[0].id
        check("thread.run.step", await _ok(await http.get(f"{steps}/{step_id}", headers=beta)))
        check(
            "thread.run",
            await _ok(await http.post(f"{base}/{run.id}", headers=beta, json={"metadata": {}})),  # type: ignore[attr-defined]
        )
        stream_body = {**run_body, "stream": True}
        names: list[str] = []
        async with http.stream("POST", "/v1/threads/runs", headers=beta, json=stream_body) as r:
            assert r.status_code == 200
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    names.append(event)
                elif line.startswith("data: ") and event != "done":
                    check(_assistant_kind(event), line[6:])
        assert names[0] == "thread.created" and names[-1] == "done"
    finally:
        await services.runs.stop()


async def test_chat_completions_stored_and_streamed(http: httpx2.AsyncClient) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4,
        "store": True,
        "metadata": {"suite": "contract"},
        "logprobs": True,
        "top_logprobs": 2,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    }
    completion = check(
        "chat.completion",
        await _ok(await http.post("/v1/chat/completions", headers=AUTH, json=body)),
    )
    cid = completion.id  # type: ignore[attr-defined]
    check(
        "chat.completion.stored",
        await _ok(await http.get(f"/v1/chat/completions/{cid}", headers=AUTH)),
    )
    check(
        "chat.completion.stored",
        await _ok(
            await http.post(
                f"/v1/chat/completions/{cid}", headers=AUTH, json={"metadata": {"k": "v"}}
            )
        ),
    )
    check_list(
        "chat.completion.stored",
        await _ok(
            await http.get("/v1/chat/completions", headers=AUTH, params={"metadata[k]": "v"})
        ),
    )
    check_list(
        "chat.completion.store_message",
        await _ok(await http.get(f"/v1/chat/completions/{cid}/messages", headers=AUTH)),
    )
    check(
        "chat.completion.deleted",
        await _ok(await http.delete(f"/v1/chat/completions/{cid}", headers=AUTH)),
    )
    body.update(stream=True, stream_options={"include_usage": True}, store=False)
    async with http.stream("POST", "/v1/chat/completions", headers=AUTH, json=body) as r:
        frames = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]" and len(frames) > 2
    for frame in frames[:-1]:
        check("chat.completion.chunk", frame)


async def test_legacy_completions_whole_and_streamed(http: httpx2.AsyncClient) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": ["Hello", "1, 2, 3,"],
        "max_tokens": 4,
        "n": 2,
        "logprobs": 2,
    }
    whole = check(
        "text_completion", await _ok(await http.post("/v1/completions", headers=AUTH, json=body))
    )
    assert [c.index for c in whole.choices] == [0, 1, 2, 3]  # type: ignore[attr-defined]
    body.update(stream=True, stream_options={"include_usage": True})
    async with http.stream("POST", "/v1/completions", headers=AUTH, json=body) as r:
        frames = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]" and len(frames) > 4
    for frame in frames[:-1]:
        check("text_completion.chunk", frame)
    scored = {"model": MODEL, "prompt": "1, 2, 3,", "max_tokens": 0, "echo": True, "logprobs": 1}
    echo = check(
        "text_completion.echo",
        await _ok(await http.post("/v1/completions", headers=AUTH, json=scored)),
    )
    logprobs = echo.choices[0].logprobs  # type: ignore[attr-defined]
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert all(lp is not None for lp in logprobs.token_logprobs[1:])


async def test_audio(http: httpx2.AsyncClient) -> None:
    speech = await http.post(
        "/v1/audio/speech",
        headers=AUTH,
        json={
            "model": "tts-1",
            "voice": "alloy",
            "input": "Hello there.",
            "response_format": "wav",
        },
    )
    audio = await _ok(speech)
    for path, fields, kind in [
        ("transcriptions", {"model": "whisper-1"}, "audio.transcription"),
        (
            "transcriptions",
            {
                "model": "whisper-1",
                "response_format": "verbose_json",
                "timestamp_granularities[]": "word",
            },
            "audio.transcription.verbose",
        ),
        ("translations", {"model": "whisper-1"}, "audio.translation"),
    ]:
        check(
            kind,
            await _ok(
                await http.post(
                    f"/v1/audio/{path}",
                    headers=AUTH,
                    data=fields,
                    files={"file": ("hi.wav", audio)},
                )
            ),
        )


async def test_realtime_client_secret(http: httpx2.AsyncClient) -> None:
    check(
        "realtime.client_secret",
        await _ok(await http.post("/v1/realtime/client_secrets", headers=AUTH, json={})),
    )


ITEMS = [
    {"item": {"q": "2+2?", "a": "4"}, "sample": {"output_text": "4"}},
    {"item": {"q": "3+3?", "a": "6"}, "sample": {"output_text": "5"}},
]


async def test_evals_runs_and_output_items(http: httpx2.AsyncClient, services: Services) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}, "a": {"type": "string"}}}
    created = check(
        "eval.create",
        await _ok(
            await http.post(
                "/v1/evals",
                headers=AUTH,
                json={
                    "name": "contract",
                    "metadata": {"suite": "contract"},
                    "data_source_config": {
                        "type": "custom",
                        "item_schema": schema,
                        "include_sample_schema": True,
                    },
                    "testing_criteria": [
                        {
                            "type": "string_check",
                            "name": "exact",
                            "operation": "eq",
                            "input": "{{sample.output_text}}",
                            "reference": "{{item.a}}",
                        }
                    ],
                },
            )
        ),
    )
    eval_id = created.id  # type: ignore[attr-defined]
    check("eval.retrieve", await _ok(await http.get(f"/v1/evals/{eval_id}", headers=AUTH)))
    check(
        "eval.update",
        await _ok(await http.post(f"/v1/evals/{eval_id}", headers=AUTH, json={"name": "renamed"})),
    )
    check_list("eval.list_item", await _ok(await http.get("/v1/evals", headers=AUTH)))
    run_body = {
        "name": "r",
        "data_source": {"type": "jsonl", "source": {"type": "file_content", "content": ITEMS}},
    }
    run = check(
        "eval.run.create",
        await _ok(await http.post(f"/v1/evals/{eval_id}/runs", headers=AUTH, json=run_body)),
    )
    run_id = run.id  # type: ignore[attr-defined]
    await services.evals.start()
    try:
        for _ in range(200):
            got = check(
                "eval.run.retrieve",
                await _ok(await http.get(f"/v1/evals/{eval_id}/runs/{run_id}", headers=AUTH)),
            )
            if got.status not in ("queued", "in_progress"):  # type: ignore[attr-defined]
                break
            await anyio.sleep(0.05)
    finally:
        await services.evals.stop()
    assert got.status == "completed", got  # type: ignore[attr-defined]
    check_list(
        "eval.run.list_item", await _ok(await http.get(f"/v1/evals/{eval_id}/runs", headers=AUTH))
    )
    items = check_list(
        "eval.run.output_item.list_item",
        await _ok(await http.get(f"/v1/evals/{eval_id}/runs/{run_id}/output_items", headers=AUTH)),
    )
    assert len(items.data) == 2
    check(
        "eval.run.output_item.retrieve",
        await _ok(
            await http.get(
                f"/v1/evals/{eval_id}/runs/{run_id}/output_items/{items.data[0].id}", headers=AUTH
            )
        ),
    )
    second = check(
        "eval.run.create",
        await _ok(await http.post(f"/v1/evals/{eval_id}/runs", headers=AUTH, json=run_body)),
    )
    check(
        "eval.run.cancel",
        await _ok(await http.post(f"/v1/evals/{eval_id}/runs/{second.id}/cancel", headers=AUTH)),
    )  # type: ignore[attr-defined]
    check(
        "eval.run.deleted",
        await _ok(await http.delete(f"/v1/evals/{eval_id}/runs/{run_id}", headers=AUTH)),
    )
    check("eval.deleted", await _ok(await http.delete(f"/v1/evals/{eval_id}", headers=AUTH)))


def _training_jsonl(n: int = 10) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say {i}"},
                {"role": "assistant", "content": str(i)},
            ]
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


async def test_fine_tuning_job_and_events(http: httpx2.AsyncClient) -> None:
    upload = check(
        "file",
        await _ok(
            await http.post(
                "/v1/files",
                headers=AUTH,
                data={"purpose": "fine-tune"},
                files={"file": ("train.jsonl", _training_jsonl())},
            )
        ),
    )
    job = check(
        "fine_tuning.job",
        await _ok(
            await http.post(
                "/v1/fine_tuning/jobs",
                headers=AUTH,
                json={
                    "model": MODEL,
                    "training_file": upload.id,  # type: ignore[attr-defined]
                    "metadata": {"suite": "contract"},
                },
            )
        ),
    )
    job_id = job.id  # type: ignore[attr-defined]
    try:
        check(
            "fine_tuning.job",
            await _ok(await http.get(f"/v1/fine_tuning/jobs/{job_id}", headers=AUTH)),
        )
        check_list(
            "fine_tuning.job", await _ok(await http.get("/v1/fine_tuning/jobs", headers=AUTH))
        )
        events = check_list(
            "fine_tuning.job.event",
            await _ok(await http.get(f"/v1/fine_tuning/jobs/{job_id}/events", headers=AUTH)),
        )
        assert events.data
        check_list(
            "fine_tuning.job.checkpoint",
            await _ok(await http.get(f"/v1/fine_tuning/jobs/{job_id}/checkpoints", headers=AUTH)),
        )
    finally:
        check(
            "fine_tuning.job",
            await _ok(await http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=AUTH)),
        )


async def test_responses_and_conversations(http: httpx2.AsyncClient) -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
    body: dict[str, Any] = {
        "model": MODEL,
        "input": "Weather in Oslo?",
        "tools": [weather],
        "tool_choice": "required",
        "max_output_tokens": 60,
        "temperature": 0,
        "metadata": {"suite": "contract"},
    }
    created = check(
        "response", await _ok(await http.post("/v1/responses", headers=AUTH, json=body))
    )
    rid = created.id  # type: ignore[attr-defined]
    call = created.output[0]  # type: ignore[attr-defined]
    check("response", await _ok(await http.get(f"/v1/responses/{rid}", headers=AUTH)))
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": "Cold."}
    follow = {
        "model": MODEL,
        "previous_response_id": rid,
        "input": [answer],
        "max_output_tokens": 16,
        "include": ["message.output_text.logprobs"],
        "top_logprobs": 1,
    }
    second = check(
        "response", await _ok(await http.post("/v1/responses", headers=AUTH, json=follow))
    )
    check_list(
        "response.input_item",
        await _ok(await http.get(f"/v1/responses/{second.id}/input_items", headers=AUTH)),  # type: ignore[attr-defined]
    )
    check(
        "response.input_tokens",
        await _ok(await http.post("/v1/responses/input_tokens", headers=AUTH, json=follow)),
    )
    for stream_body in ({**body, "stream": True}, {**follow, "stream": True}):
        async with http.stream("POST", "/v1/responses", headers=AUTH, json=stream_body) as r:
            lines = [line async for line in r.aiter_lines()]
        frames = [line[6:] for line in lines if line.startswith("data: ")]
        assert "[DONE]" not in frames and len(frames) > 4
        for frame in frames:
            kind = json.loads(frame)["type"]
            if kind == "response.function_call_arguments.done":
                check(kind, frame)
                continue
            event = check("response.stream_event", frame)
            if kind in ("response.created", "response.in_progress", "response.completed"):
                check("response", json.dumps(json.loads(frame)["response"]))
            assert event is not None
    compacted = {"model": MODEL, "input": [{"role": "user", "content": "Hi"}]}
    check(
        "response.compaction",
        await _ok(await http.post("/v1/responses/compact", headers=AUTH, json=compacted)),
    )
    check("response.deleted", await _ok(await http.delete(f"/v1/responses/{rid}", headers=AUTH)))

    conversation = check(
        "conversation",
        await _ok(
            await http.post(
                "/v1/conversations",
                headers=AUTH,
                json={"items": [{"role": "user", "content": "Hi"}], "metadata": {"k": "v"}},
            )
        ),
    )
    cid = conversation.id  # type: ignore[attr-defined]
    turn = {"model": MODEL, "conversation": cid, "input": "Hello", "max_output_tokens": 16}
    check("response", await _ok(await http.post("/v1/responses", headers=AUTH, json=turn)))
    added = check(
        "conversation.item_list",
        await _ok(
            await http.post(
                f"/v1/conversations/{cid}/items",
                headers=AUTH,
                json={"items": [{"role": "user", "content": "More"}]},
            )
        ),
    )
    items = check_list(
        "conversation.item",
        await _ok(await http.get(f"/v1/conversations/{cid}/items", headers=AUTH)),
    )
    assert len(items.data) == 4
    item_id = added.data[0].id  # type: ignore[attr-defined]
    check(
        "conversation.item",
        await _ok(await http.get(f"/v1/conversations/{cid}/items/{item_id}", headers=AUTH)),
    )
    check(
        "conversation",
        await _ok(await http.post(f"/v1/conversations/{cid}", headers=AUTH, json={"metadata": {}})),
    )
    check(
        "conversation",
        await _ok(await http.delete(f"/v1/conversations/{cid}/items/{item_id}", headers=AUTH)),
    )
    check(
        "conversation.deleted",
        await _ok(await http.delete(f"/v1/conversations/{cid}", headers=AUTH)),
    )


async def test_admin_api(http: httpx2.AsyncClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        return await _ok(
            await http.request(method, f"/v1/organization{path}", headers=admin, json=body)
        )

    project = check("organization.project", await call("POST", "/projects", {"name": "Contract"}))
    pid = project.id  # type: ignore[attr-defined]
    check("organization.project", await call("GET", f"/projects/{pid}"))
    check("organization.project", await call("POST", f"/projects/{pid}", {"name": "Contract 2"}))
    check_list("organization.project", await call("GET", "/projects"))
    accounts = f"/projects/{pid}/service_accounts"
    account = check(
        "organization.project.service_account.create", await call("POST", accounts, {"name": "b"})
    )
    sid = account.id  # type: ignore[attr-defined]
    check("organization.project.service_account", await call("GET", f"{accounts}/{sid}"))
    check("organization.project.service_account", await call("POST", f"{accounts}/{sid}", {}))
    check_list("organization.project.service_account", await call("GET", accounts))
    made = check(
        "organization.project.service_account.api_key",
        await call("POST", f"{accounts}/{sid}/api_keys", {"scopes": ["api.all.read"]}),
    )
    keys = f"/projects/{pid}/api_keys"
    kid = made.id  # type: ignore[attr-defined]
    check_list("organization.project.api_key", await call("GET", keys))
    check("organization.project.api_key", await call("GET", f"{keys}/{kid}"))
    check("organization.project.api_key", await call("POST", f"{keys}/{kid}", {"scopes": []}))
    check("organization.project.api_key.deleted", await call("DELETE", f"{keys}/{kid}"))
    check("organization.project.service_account.deleted", await call("DELETE", f"{accounts}/{sid}"))
    check_list("project.rate_limit", await call("GET", f"/projects/{pid}/rate_limits"))
    limit = {"max_requests_per_1_minute": 5}
    check(
        "project.rate_limit", await call("POST", f"/projects/{pid}/rate_limits/rl-{MODEL}", limit)
    )
    users = check_list("organization.user", await call("GET", "/users"))
    check("organization.user", await call("GET", f"/users/{users.data[0].id}"))
    check("organization.user", await call("POST", f"/users/{users.data[0].id}", {}))
    invite = check(
        "organization.invite",
        await call(
            "POST",
            "/invites",
            {
                "email": "c@example.com",
                "role": "reader",
                "projects": [{"id": pid, "role": "member"}],
            },
        ),
    )
    check("organization.invite", await call("GET", f"/invites/{invite.id}"))  # type: ignore[attr-defined]
    check_list("organization.invite", await call("GET", "/invites"))
    check("organization.invite.deleted", await call("DELETE", f"/invites/{invite.id}"))  # type: ignore[attr-defined]
    created = check(
        "organization.admin_api_key.create", await call("POST", "/admin_api_keys", {"name": "c"})
    )
    aid = created.id  # type: ignore[attr-defined]
    check("organization.admin_api_key", await call("GET", f"/admin_api_keys/{aid}"))
    check_list("organization.admin_api_key", await call("GET", "/admin_api_keys"))
    check("organization.admin_api_key.deleted", await call("DELETE", f"/admin_api_keys/{aid}"))
    check("organization.project", await call("POST", f"/projects/{pid}/archive"))
    logs = check_list(
        "organization.audit_log", await call("GET", f"/audit_logs?project_ids[]={pid}")
    )
    assert len(logs.data) >= 8
    check_list("organization.audit_log", await call("GET", "/audit_logs?limit=100"))
