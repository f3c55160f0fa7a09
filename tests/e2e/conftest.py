"""A real ``hearth serve`` subprocess with the bundled model, on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, database_url_for, free_port


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Start ``hearth serve`` and wait until /health answers (or fail with its log)."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    full_env = {
        **os.environ,
        "HEARTH_CONTEXT_LENGTH": "2048",
        "HEARTH_KV_CACHE_TOKENS": "16384",
        **(env or {}),
    }
    full_env.pop("HEARTH_API_KEY", None)
    if "HEARTH_DATABASE_URL" not in (env or {}) and (url := database_url_for(data_dir)):
        full_env["HEARTH_DATABASE_URL"] = url
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hearth",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *args,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hearth serve exited:\n{server.output()}")
        try:
            if httpx2.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx2.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"hearth serve did not start:\n{server.output()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("e2e") / "data", "--api-key", API_KEY)
    yield srv
    stop_server(srv)


@pytest.fixture
def sync_client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
        yield c


def hearth_engine(server: Server) -> dict[str, Any]:
    """``GET /hearth/engine``: chat engine stats per model, and ``audio``."""
    r = httpx2.get(
        f"{server.url}/hearth/engine", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
    )
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def engine_stats(server: Server) -> dict[str, object]:
    return hearth_engine(server)["models"]["smollm2-135m-instruct"]  # type: ignore[no-any-return]
