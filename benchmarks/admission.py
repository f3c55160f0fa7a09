"""Admission benchmark: a burst of long streaming chat requests against a small queue.

Starts ``hearth serve`` (fresh temp data dir) with ``HEARTH_MAX_SEQUENCES`` and
``HEARTH_MAX_WAITING`` small, then opens ``--clients`` streaming chat completions at once,
none with ``max_tokens`` (each would run until the model stops or the context is full).
An accepted stream is read for ``--hold`` seconds after its first token and then closed
(the server cancels it); a refused one gets OpenAI's 503 with ``Retry-After``. Meanwhile
``GET /health`` is polled every 100 ms. Prints one JSON document on stdout (progress on
stderr): accepted, refused, other outcomes, p50/p99 time to the 503, p50/p99 time to
first token of the accepted, and /health latency during the burst. Figures only, no
assertions.

Usage: .venv/bin/python benchmarks/admission.py [--clients 64] [--max-sequences 4]
       [--max-waiting 8] [--hold 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

MODEL_ID = "smollm2-135m-instruct"
API_KEY = "sk-benchmark"
READY_TIMEOUT_S = 180.0


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[admission] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    data_dir: Path, max_sequences: int, max_waiting: int
) -> tuple[subprocess.Popen[bytes], str]:
    """``hearth serve`` on a free port, once ``/health`` answers: (process, base url)."""
    port = free_port()
    env = {
        **os.environ,
        "HEARTH_API_KEY": API_KEY,
        "HEARTH_MAX_SEQUENCES": str(max_sequences),
        "HEARTH_MAX_WAITING": str(max_waiting),
        "HEARTH_CONTEXT_LENGTH": "2048",
        "HEARTH_AUDIO": "false",
    }
    log_file = (data_dir.parent / "serve.log").open("wb")
    cmd = [sys.executable, "-m", "hearth", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data_dir)], stdout=log_file, stderr=subprocess.STDOUT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("hearth serve exited; see serve.log")
        try:
            if httpx2.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx2.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("hearth serve did not start")


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) in ms, nearest rank; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def one_client(http: httpx2.AsyncClient, i: int, hold: float) -> tuple[str, float]:
    """("accepted", time to first token) or ("refused", time to the 503) or (other, s)."""
    body = {
        "model": MODEL_ID,
        "stream": True,
        "messages": [{"role": "user", "content": f"Ticket {i}. Tell me a very long story."}],
    }
    t0 = time.perf_counter()
    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code == 503:
            await r.aread()
            assert r.headers.get("retry-after")  # the 503 is the engine's, not a proxy's
            return "refused", time.perf_counter() - t0
        if r.status_code != 200:
            return f"status {r.status_code}", time.perf_counter() - t0
        first: float | None = None
        async for line in r.aiter_lines():
            if first is None and line.startswith("data: {") and _has_text(line):
                first = time.perf_counter() - t0
            if first is not None and time.perf_counter() - t0 - first >= hold:
                break  # leave mid-stream: the server cancels the sequence
        return ("accepted", first) if first is not None else ("no token", time.perf_counter() - t0)


def _has_text(line: str) -> bool:
    """Whether an SSE ``data:`` line carries generated text (not the role-only chunk)."""
    choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def health_probe(http: httpx2.AsyncClient, done: asyncio.Event, out: list[float]) -> None:
    while not done.is_set():
        t0 = time.perf_counter()
        r = await http.get("/health")
        if r.status_code == 200:
            out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.1)


async def burst(url: str, clients: int, hold: float) -> dict[str, Any]:
    limits = httpx2.Limits(max_connections=clients + 8)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        httpx2.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as http,
        httpx2.AsyncClient(base_url=url, timeout=60) as probe,
    ):
        done = asyncio.Event()
        health: list[float] = []
        prober = asyncio.create_task(health_probe(probe, done, health))
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one_client(http, i, hold) for i in range(clients)))
        wall = time.perf_counter() - t0
        done.set()
        await prober
        left = time.perf_counter()
        while True:  # the streams the clients left are cancelled: wait until all are freed
            stats = (await http.get("/hearth/engine")).json()["models"][MODEL_ID]
            if not stats["active_sequences"] or time.perf_counter() - left > 30:
                break
            await asyncio.sleep(0.05)
        idle_after = time.perf_counter() - left
    ttft = [s for kind, s in results if kind == "accepted"]
    refusal = [s for kind, s in results if kind == "refused"]
    others = [kind for kind, _ in results if kind not in ("accepted", "refused")]
    return {
        "clients": clients,
        "accepted": len(ttft),
        "refused_503": len(refusal),
        "other": others,
        "time_to_refusal_ms": {"p50": pct(refusal, 0.5), "p99": pct(refusal, 0.99)},
        "time_to_first_token_ms": {"p50": pct(ttft, 0.5), "p99": pct(ttft, 0.99)},
        "health_during_burst_ms": {
            "n": len(health),
            "p50": pct(health, 0.5),
            "p99": pct(health, 0.99),
            "max": pct(health, 1.0),
        },
        "burst_wall_s": round(wall, 2),
        "engine_idle_after_burst_s": round(idle_after, 2),
        "engine_after": {
            k: stats[k]
            for k in ("active_requests", "waiting_requests", "active_sequences", "kv_positions")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-sequences", type=int, default=4)
    parser.add_argument("--max-waiting", type=int, default=8)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds streamed per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data", args.max_sequences, args.max_waiting)
        try:
            log(f"server up at {url}; {args.clients} clients")
            result = asyncio.run(burst(url, args.clients, args.hold))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    settings = {"max_sequences": args.max_sequences, "max_waiting": args.max_waiting}
    print(json.dumps({"settings": settings, "hold_s": args.hold, **result}, indent=2))


if __name__ == "__main__":
    main()
