"""What the platform layer costs a request: API key authentication and its permission
check, rate limiting and usage recording, measured on Hearth's real app in-process
(httpx's ASGI transport: no sockets, so nothing but the app is timed).

Two configurations of the same app and ``Services``, interleaved in rounds:

  * ``platform``: as served: the key verified (its cache), the route's scope checked,
    the request admitted under a project rate limit (RPM and TPM set, counted in memory,
    as without ``HEARTH_REDIS_URL``) and its usage recorded.
  * ``bare``: ``authenticate`` replaced by a dependency returning the caller, no rate
    limiter, no usage meter.

Two endpoints: ``GET /v1/files?limit=1`` (a non-model endpoint: authentication and
permissions only) and ``POST /v1/embeddings`` with a one-word input (a model endpoint:
all three). Figures: requests per second (sequential, one client) and p50 / p99 latency
per configuration; ``platform / bare`` throughput ratio (goal >= 0.9) and the p99 latency
added (goal <= 2 ms). Also the microseconds each platform step costs alone
(``component_us_per_request``), since the end-to-end difference is within the noise.

Prints one JSON document on stdout; nothing asserts on timings.

Usage: .venv/bin/python benchmarks/platform_overhead.py [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from hearth.api.deps import authenticate
from hearth.app import create_app
from hearth.config import Settings
from hearth.domain import Principal
from hearth.services.container import Services

API_KEY = "sk-hearth-bench-platform-0123456789"
EMBEDDING_MODEL = "text-embedding-3-small"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def timed(
    client: httpx2.AsyncClient, method: str, url: str, body: Any, count: int
) -> list[float]:
    """Seconds each of ``count`` sequential requests took (all must succeed)."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        r = await client.request(method, url, json=body)
        out.append(time.perf_counter() - start)
        if r.status_code != 200:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text}")
    return out


async def component_costs(
    svc: Services, caller: Principal, count: int = 20_000
) -> dict[str, float]:
    """Microseconds per call of each platform step alone, as a request makes them: the
    key's (cached) verification and scope check, admission and settlement under a rate
    limit, and recording usage."""
    out = {}
    start = time.perf_counter()
    for _ in range(count):
        await svc.auth.authenticate(API_KEY)
        svc.auth.authorize(caller, "POST", "/v1/embeddings")
    out["auth_and_permissions"] = (time.perf_counter() - start) / count * 1e6
    start = time.perf_counter()
    for _ in range(count):
        admission = await svc.limiter.admit(caller, EMBEDDING_MODEL, 3)
        await admission.settle(3)
    out["rate_limit_admit_and_settle"] = (time.perf_counter() - start) / count * 1e6
    start = time.perf_counter()
    for _ in range(count):
        svc.meter.record(caller, "embeddings", EMBEDDING_MODEL, input_tokens=3)
    out["usage_record"] = (time.perf_counter() - start) / count * 1e6
    return {k: round(v, 2) for k, v in out.items()}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "requests_per_s": round(len(ordered) / sum(ordered), 1),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


async def run(requests: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hearth-bench-platform-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            api_key=API_KEY,
            admin_key="sk-admin-bench-platform-0123456789",  # not generated: no print
            bundled_models=False,
            audio=False,
            code_interpreter=False,
            project_rate_limit_rpm=1_000_000_000,
            project_rate_limit_tpm=1_000_000_000_000,
        )
        svc = Services.build(settings)
        try:
            caller = svc.api_keys.verify(API_KEY)
            assert caller is not None
            platform_app = create_app(settings, svc)
            bare_app = create_app(settings, svc)

            async def the_caller() -> Principal:  # async: FastAPI runs a sync one on a thread
                return caller

            bare_app.dependency_overrides[authenticate] = the_caller
            embeddings = svc.embeddings
            metered = (embeddings._limiter, embeddings._meter)  # noqa: SLF001

            def configure(name: str) -> None:
                on = name == "platform"
                embeddings._limiter, embeddings._meter = metered if on else (None, None)  # noqa: SLF001

            endpoints = {
                "files": ("GET", "/v1/files?limit=1", None),
                "embeddings": ("POST", "/v1/embeddings", {"model": EMBEDDING_MODEL, "input": "hi"}),
            }
            samples: dict[str, dict[str, list[float]]] = {
                e: {"platform": [], "bare": []} for e in endpoints
            }
            clients = {
                name: httpx2.AsyncClient(
                    transport=httpx2.ASGITransport(app=app),
                    base_url="http://hearth.test",
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                for name, app in (("platform", platform_app), ("bare", bare_app))
            }
            components = await component_costs(svc, caller)
            try:
                for method, url, body in endpoints.values():  # warm up both
                    for name, client in clients.items():
                        configure(name)
                        await timed(client, method, url, body, 50)
                for r in range(rounds):
                    for endpoint, (method, url, body) in endpoints.items():
                        order = ("platform", "bare") if r % 2 == 0 else ("bare", "platform")
                        for name in order:
                            configure(name)
                            samples[endpoint][name] += await timed(
                                clients[name], method, url, body, requests
                            )
                    log(f"round {r + 1}/{rounds} done")
            finally:
                configure("platform")
                for client in clients.values():
                    await client.aclose()
        finally:
            svc.close()
    result: dict[str, Any] = {
        "requests_per_round": requests,
        "rounds": rounds,
        "component_us_per_request": components,
    }
    for endpoint, by_config in samples.items():
        with_, without = summary(by_config["platform"]), summary(by_config["bare"])
        result[endpoint] = {
            "platform": with_,
            "bare": without,
            "throughput_ratio": round(with_["requests_per_s"] / without["requests_per_s"], 3),
            "p99_added_ms": round(with_["p99_ms"] - without["p99_ms"], 3),
            "p50_added_ms": round(with_["p50_ms"] - without["p50_ms"], 3),
            "per_round_ratio": [
                round(
                    statistics.fmean(by_config["bare"][i * requests : (i + 1) * requests])
                    / statistics.fmean(by_config["platform"][i * requests : (i + 1) * requests]),
                    3,
                )
                for i in range(rounds)
            ],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
