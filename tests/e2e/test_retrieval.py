"""Vector store ingestion against a real ``hearth serve``: a server killed (SIGKILL) while
it embeds a file resumes the file on the next start, ending with exactly the chunks an
uninterrupted ingestion makes (none duplicated, none lost)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import openai

from tests.conftest import API_KEY
from tests.e2e.conftest import start_server, stop_server

WORDS = [
    "harbour",
    "keeper",
    "lamp",
    "tide",
    "gale",
    "stone",
    "tower",
    "signal",
    "ship",
    "rope",
    "chart",
    "bell",
    "night",
    "winter",
    "storm",
    "light",
    "lens",
    "oil",
    "wick",
    "cliff",
    "beacon",
    "shore",
    "reef",
    "coast",
    "fog",
    "horn",
    "watch",
    "log",
    "brass",
    "glass",
    "north",
    "south",
    "wind",
    "wave",
    "sail",
    "mast",
    "anchor",
    "deck",
    "captain",
    "crew",
    "voyage",
    "island",
    "current",
]


def document(sentences: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
        for _ in range(sentences)
    ]
    return "\n".join(lines).encode()


def wait_file(client: openai.OpenAI, store_id: str, file_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.vector_stores.files.retrieve(file_id, vector_store_id=store_id).status
        if status != "in_progress":
            return status
        time.sleep(0.2)
    raise AssertionError(f"{file_id} still in progress after {timeout} s")


def chunks(client: openai.OpenAI, store_id: str, file_id: str) -> list[str]:
    page = client.vector_stores.files.content(file_id, vector_store_id=store_id)
    return [p.text or "" for p in page.data]


def test_ingestion_survives_a_killed_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HEARTH_LEASE_SECONDS": "2", "HEARTH_AUDIO": "false"}
    body = document(1200)  # ~21k tokens: ~50 chunks of 800, ~200 windows to embed
    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        f = client.files.create(file=("logbook.txt", body), purpose="assistants")
        store = client.vector_stores.create(name="durable", file_ids=[f.id])
        time.sleep(1.0)
        mid = client.vector_stores.files.retrieve(f.id, vector_store_id=store.id)
        server.process.kill()  # SIGKILL: no shutdown, the lease is left to expire
        server.process.wait()
    finally:
        stop_server(server)
    assert mid.status == "in_progress"

    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        assert wait_file(client, store.id, f.id) == "completed"
        resumed = chunks(client, store.id, f.id)
        # the same file ingested without interruption, for comparison
        fresh = client.vector_stores.create(name="reference", file_ids=[f.id])
        assert wait_file(client, fresh.id, f.id) == "completed"
        reference = chunks(client, fresh.id, f.id)
        assert len(resumed) == len(reference) > 30
        assert resumed == reference
        got = client.vector_stores.retrieve(store.id)
        assert (got.status, got.file_counts.completed, got.file_counts.total) == (
            "completed",
            1,
            1,
        )
        hits = client.vector_stores.search(vector_store_id=store.id, query="lamp keeper").data
        assert hits and all(h.file_id == f.id for h in hits)
    finally:
        stop_server(server)
