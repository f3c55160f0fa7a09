"""Code interpreter against a real ``hearth serve``: a container's kernel runs code for
the Responses tool, ``/hearth/engine`` shows it, and a server killed with SIGKILL leaves
nothing behind: its container processes die with it, and the next server unmounts what
is left and marks the container expired."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.api.test_responses_code_interpreter import ask
from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import hearth_engine, start_server, stop_server
from tests.sandbox.test_escape import host_processes_of


def run_code(client: openai.OpenAI, container_id: str, code: str) -> Any:
    """The Responses tool's call in ``container_id`` when the model is asked to run
    ``code`` (after a worked example, with the tool forced): the first output item."""
    response = client.responses.create(
        model=MODEL,
        input=ask(container_id, code),
        tools=[{"type": "code_interpreter", "container": container_id}],
        tool_choice={"type": "code_interpreter"},
        include=["code_interpreter_call.outputs"],
        max_output_tokens=300,
        temperature=0,
    )
    return response.output[0]


def test_code_runs_and_a_killed_server_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HEARTH_AUDIO": "false", "HEARTH_EMBEDDINGS": "false"}
    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        engine = hearth_engine(server)
        if engine["code_interpreter"]["reason"] is not None:
            message = f"code interpreter unavailable: {engine['code_interpreter']['reason']}"
            if os.environ.get("HEARTH_REQUIRE_SANDBOX") == "1":
                pytest.fail(message)
            pytest.skip(message)
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        container = client.containers.create(name="e2e")
        client.containers.files.create(container.id, file=("notes.txt", b"kept"))
        call = run_code(client, container.id, "print(6 * 7)")
        assert call.type == "code_interpreter_call" and call.outputs is not None
        assert call.outputs[0].type == "logs" and call.outputs[0].logs == "42\n"
        (shown,) = hearth_engine(server)["containers"]
        assert shown["id"] == container.id and shown["kernel"] == "running"
        uid = shown["uid"]
        assert host_processes_of(uid)
        server.process.kill()  # SIGKILL: no shutdown
        server.process.wait()
    finally:
        stop_server(server)
    deadline = time.monotonic() + 10
    while host_processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_processes_of(uid) == []  # the kernel died with its server
    mounts = Path("/proc/self/mounts").read_text()
    assert container.id in mounts  # its in-memory disk is still there ...

    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        assert container.id not in Path("/proc/self/mounts").read_text()  # ... until now
        assert client.containers.retrieve(container.id).status == "expired"
        assert hearth_engine(server)["containers"] == []
        with pytest.raises(openai.BadRequestError):
            client.containers.files.create(container.id, file=("more.txt", b"x"))
    finally:
        stop_server(server)
