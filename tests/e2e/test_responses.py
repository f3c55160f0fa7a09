"""Background responses against a real ``hearth serve``: a server killed (SIGKILL) while a
background response runs leaves it ``in_progress``; the next server resumes it from its
stored request and finishes it, with the conversation it appends to intact."""

from __future__ import annotations

import time
from pathlib import Path

import openai
from openai.types.responses import Response

from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import start_server, stop_server


def wait_done(client: openai.OpenAI, response_id: str, timeout: float = 240) -> Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        time.sleep(0.2)
    raise AssertionError(f"{response_id} did not finish in {timeout} s")


def test_background_response_survives_a_killed_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HEARTH_LEASE_SECONDS": "2", "HEARTH_AUDIO": "false"}
    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        conversation = client.conversations.create(
            items=[{"role": "user", "content": "We are writing a story about a lighthouse."}]
        )
        queued = client.responses.create(
            model=MODEL,
            conversation=conversation.id,
            input="Write the first chapter.",
            background=True,
            max_output_tokens=1200,
        )
        deadline = time.monotonic() + 60
        while client.responses.retrieve(queued.id).status != "in_progress":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # mid-generation
        server.process.kill()  # SIGKILL: no shutdown, the lease is left to expire
        server.process.wait()
    finally:
        stop_server(server)

    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        final = wait_done(client, queued.id)
        assert final.status in ("completed", "incomplete"), final.error
        assert final.output_text and final.background is True
        items = client.conversations.items.list(conversation.id, order="asc").data
        # the first item, the resumed response's input and its answer: written once
        assert [getattr(i, "role", None) for i in items] == ["user", "user", "assistant"]
        assert items[2].id == final.output[0].id
        # a second background response, cancelled while queued or running, stays cancelled
        other = client.responses.create(
            model=MODEL, input="Another story.", background=True, max_output_tokens=1200
        )
        assert client.responses.cancel(other.id).status == "cancelled"
        time.sleep(1.0)
        assert client.responses.retrieve(other.id).status == "cancelled"
    finally:
        stop_server(server)
