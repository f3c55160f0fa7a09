"""Faults against a real ``hearth serve``: a server killed (SIGKILL) in the middle of a
large upload, and a crowd of streaming clients that leave mid-answer.

A server killed during a fine-tuning job or an eval run is covered next to those
features: ``tests/e2e/test_fine_tuning.py::test_killed_server_resumes_the_job`` (the job
resumes from its checkpoint, which is not repeated; here: nor are its events, files or
model) and
``tests/e2e/test_evals.py::test_run_survives_a_killed_server`` (the run completes with one
output item per row). The blob store's startup sweep is unit-tested in
``tests/store/test_blobs.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, MODEL, NO_EOG
from tests.e2e.conftest import Server, engine_stats, start_server, stop_server
from tests.e2e.test_fine_tuning import create_job, examples, jsonl, upload, wait, wait_checkpoints

pytestmark = pytest.mark.e2e

ENV = {"HEARTH_AUDIO": "false"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def slow_upload(server: Server, declared: int, sent: int) -> socket.socket:
    """Open ``POST /v1/files`` with a multipart body of ``declared`` bytes and send its
    first ``sent`` bytes in 64 KiB pieces; the socket is left open mid-body."""
    boundary = "hearthfaultboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(
        (
            f"POST /v1/files HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {API_KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + declared}\r\n\r\n"
        ).encode()
        + head
    )
    piece = b"x" * 65536
    for _ in range(sent // len(piece)):
        sock.sendall(piece)
        time.sleep(0.001)
    return sock


def blob_files(data: Path) -> tuple[list[Path], list[Path]]:
    """(committed blobs, anything under ``blobs/.tmp`` or a ``.*.tmp`` name)."""
    root = data / "blobs"
    every = [p for p in root.rglob("*") if p.is_file()]
    temporary = [p for p in every if ".tmp" in p.relative_to(root).parts or p.name.endswith(".tmp")]
    return [p for p in every if p not in temporary], temporary


def test_a_server_killed_mid_upload_keeps_what_was_stored_and_nothing_else(
    tmp_path: Path,
) -> None:
    data, spool = tmp_path / "data", tmp_path / "spool"
    spool.mkdir()
    env = {**ENV, "TMPDIR": str(spool)}  # where the form spools the file part
    content = secrets.token_bytes(3 * 1024 * 1024)
    server = start_server(data, "--api-key", API_KEY, env=env)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            stored = c.files.create(file=("kept.bin", content), purpose="user_data")
        sock = slow_upload(server, declared=64 * 1024 * 1024, sent=8 * 1024 * 1024)
        try:
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):  # mid-body: the server is still reading
                sock.recv(1)
            kill(server)
        finally:
            sock.close()
    finally:
        stop_server(server)

    assert list(spool.iterdir()) == []
    # what a server killed while committing a blob leaves (its writer's lock died with it)
    (data / "blobs" / ".tmp" / "killed-writer").write_bytes(content[:1000])
    server = start_server(data, "--api-key", API_KEY, env=env)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            assert [f.id for f in c.files.list()] == [stored.id]
            again = c.files.retrieve(stored.id)
            assert again.bytes == len(content) and again.filename == "kept.bin"
            assert c.files.content(stored.id).read() == content
        committed, temporary = blob_files(data)
        assert temporary == []
        assert len(committed) == 1 and committed[0].read_bytes() == content
    finally:
        stop_server(server)


def sockets(server: Server) -> int:
    """Sockets the server process holds open (listening one included)."""
    count = 0
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since the listing
            count += os.readlink(fd).startswith("socket:")
    return count


def has_text(line: str) -> bool:
    """Whether an SSE ``data:`` line carries generated text (not the role-only chunk)."""
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line.removeprefix("data: "))["choices"]
    return bool(choices and choices[0]["delta"].get("content"))


async def leave_mid_stream(http: httpx2.AsyncClient, i: int) -> int:
    """Stream a long answer and leave: after its first generated text (even clients:
    mid-generation) or after 0.3 s (odd clients: most still wait for a sequence then).
    1 for a client that read text, 0 for one that left before."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Client {i}: tell me a very long story."}],
        "max_tokens": 1000,
        "logit_bias": NO_EOG,  # only leaving ends it
        "stream": True,
    }
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.3 if i % 2 else 60):
            async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200, await r.aread()
                async for line in r.aiter_lines():
                    if has_text(line):
                        return 1
    return 0


async def crowd(server: Server, clients: int) -> list[int]:
    """``leave_mid_stream`` for ``clients`` clients at once."""
    limits = httpx2.Limits(max_connections=clients)
    async with httpx2.AsyncClient(
        base_url=server.url, headers=AUTH, timeout=60, limits=limits
    ) as http:
        return await asyncio.gather(*(leave_mid_stream(http, i) for i in range(clients)))


def idle(server: Server, timeout: float = 30) -> dict[str, Any]:
    """Engine stats once no request is in it (or after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    stats = engine_stats(server)
    while time.monotonic() < deadline and (
        stats["active_requests"] or stats["waiting_requests"] or stats["kv_positions"]
    ):
        time.sleep(0.1)
        stats = engine_stats(server)
    return stats


def test_two_hundred_clients_leaving_mid_stream_leak_nothing(tmp_path: Path) -> None:
    env = {**ENV, "HEARTH_MAX_SEQUENCES": "16", "HEARTH_MAX_WAITING": "200"}
    server = start_server(tmp_path / "data", "--api-key", API_KEY, env=env)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
        baseline = sockets(server)
        before = idle(server)
        read = asyncio.run(crowd(server, 200))
        assert sum(read[0::2]) == 100  # every even client read text, then left
        stats = idle(server)
        assert stats["active_requests"] == stats["waiting_requests"] == 0
        assert stats["active_sequences"] == 0 and stats["kv_positions"] == {}
        # cancelled as the clients left: a small part of the 200 x 1000 tokens asked for
        decoded = stats["decoded_tokens"] - before["decoded_tokens"]
        assert decoded < 200 * 1000 // 10, decoded
        deadline = time.monotonic() + 10
        while sockets(server) > baseline and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sockets(server) <= baseline  # every connection the crowd opened is closed
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            r = c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=8
            )
        assert r.choices[0].message.content
    finally:
        stop_server(server)


def test_a_resumed_fine_tuning_job_repeats_no_event_file_or_model(tmp_path: Path) -> None:
    data, env = tmp_path / "data", {**ENV, "HEARTH_LEASE_SECONDS": "3"}
    server = start_server(data, "--api-key", API_KEY, env=env)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            job = create_job(c, upload(c, jsonl(examples())), epochs=2)
            wait_checkpoints(c, job.id, 1)
            seen = {e.id: e.message for e in c.fine_tuning.jobs.list_events(job.id, limit=100)}
        kill(server)
    finally:
        stop_server(server)
    server = start_server(data, "--api-key", API_KEY, env=env)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            done = wait(c, job.id, {"succeeded", "failed"})
            assert done.status == "succeeded", done.error
            events = list(c.fine_tuning.jobs.list_events(job.id, limit=100))
            ids = [e.id for e in events]
            assert len(ids) == len(set(ids))
            # nothing written before the kill was lost or rewritten
            assert {e.id: e.message for e in events if e.id in seen} == seen
            steps = [e.data["step"] for e in events if e.type == "metrics" and e.data]
            assert steps and len(steps) == len(set(steps)), sorted(steps)
            assert [e.message for e in events].count("The job has successfully completed") == 1
            assert len(done.result_files) == 1
            files = [f.id for f in c.files.list()]
            assert len(files) == len(set(files)) == 2  # training file and one result file
            models = [m.id for m in c.models.list()]
            assert models.count(done.fine_tuned_model) == 1
    finally:
        stop_server(server)
