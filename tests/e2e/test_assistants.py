"""The Assistants API against a real ``hearth serve``: a server killed (SIGKILL) in the
middle of a run leaves it leased; the next server runs it again from the start of its
segment and finishes it, with exactly one answer in the thread. And the ``hearth gpt``
commands: a GPT made from a folder (instructions, knowledge, an OpenAPI spec, gpt.json)
and exported as a Responses request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from openai.types.beta.threads import Run

from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
)


def wait_run(client: openai.OpenAI, thread_id: str, run_id: str, timeout: float = 240) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status not in ("queued", "in_progress"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"{run_id} did not finish in {timeout} s")


def test_a_run_survives_a_killed_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HEARTH_LEASE_SECONDS": "2", "HEARTH_AUDIO": "false", "HEARTH_EMBEDDINGS": "false"}
    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        assistant = client.beta.assistants.create(model=MODEL, instructions="You write stories.")
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "Write a long story about a lighthouse."}]
        )
        run = client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=300
        )
        deadline = time.monotonic() + 60
        while (
            client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status != "in_progress"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # mid-generation: a half-written message and step exist
        server.process.kill()  # SIGKILL: no shutdown, the lease is left to expire
        server.process.wait()
    finally:
        stop_server(server)

    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        final = wait_run(client, thread.id, run.id)
        assert final.status in ("completed", "incomplete"), final.last_error
        messages = client.beta.threads.messages.list(thread.id, order="asc").data
        assert [m.role for m in messages] == ["user", "assistant"]  # the half-written one went
        assert messages[1].run_id == run.id and messages[1].status in ("completed", "incomplete")
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
        # the thread is free again: a new run starts
        again = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=8
        )
        assert again.status in ("completed", "incomplete")
    finally:
        stop_server(server)


def hearth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hearth", *args], capture_output=True, text=True, timeout=120
    )


def test_a_gpt_from_a_folder(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "lighthouse-gpt"
    (folder / "knowledge").mkdir(parents=True)
    (folder / "instructions.md").write_text("You answer questions about the lighthouse.")
    (folder / "knowledge" / "keeper.txt").write_text("The keeper of the lighthouse is Ada.")
    (folder / "openapi.yaml").write_text(
        "openapi: 3.1.0\n"
        "info: {title: Tides, version: '1'}\n"
        "servers: [{url: 'https://tides.example.com/v2'}]\n"
        "paths:\n"
        "  /tides/{port}:\n"
        "    get:\n"
        "      operationId: getTides\n"
        "      parameters: [{name: port, in: path, required: true, schema: {type: string}}]\n"
        "      responses: {'200': {description: Tide times.}}\n"
    )
    (folder / "gpt.json").write_text(
        json.dumps({"name": "Lighthouse", "auth": {"type": "bearer", "token": "tide-token"}})
    )
    base = ["--base-url", f"{server.url}/v1", "--api-key", API_KEY]
    made = hearth("gpt", "create", str(folder), *base)
    assert made.returncode == 0, made.stderr + made.stdout
    assistant_id = made.stdout.strip().splitlines()[-1]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
    assistant = client.beta.assistants.retrieve(assistant_id)
    assert assistant.name == "Lighthouse" and assistant.model == MODEL
    assert assistant.instructions == "You answer questions about the lighthouse."
    assert [t.type for t in assistant.tools] == ["file_search"]
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    (knowledge,) = client.vector_stores.files.list(store_id).data
    assert client.files.retrieve(knowledge.id).filename == "keeper.txt"
    (action,) = assistant.model_dump()["actions"]
    assert action["functions"] == ["getTides"] and action["auth"] == {"type": "bearer"}
    assert "tide-token" not in json.dumps(assistant.model_dump())

    exported = hearth("gpt", "export", assistant_id, *base)
    assert exported.returncode == 0, exported.stderr + exported.stdout
    template = json.loads(exported.stdout)
    assert template["instructions"] == assistant.instructions
    assert [t.get("name", t["type"]) for t in template["tools"]] == ["file_search", "getTides"]

    (folder / "openapi.json").write_text("{}")  # two specs: not a GPT folder
    refused = hearth("gpt", "create", str(folder), *base)
    assert refused.returncode == 2 and "2 OpenAPI specs" in refused.stderr
