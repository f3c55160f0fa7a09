"""Prompt-caching benchmark: Hearth with its automatic prompt cache on, then off.

Starts ``hearth serve`` (fresh temp data dir, context 8192, 16,384 KV cells) with prompt
caching on, runs workloads 1-4, stops it, then starts a second server with
``HEARTH_PROMPT_CACHE=false`` and runs workloads 2 and 3 again. The servers never run at
the same time. Prints one JSON document on stdout (progress goes to stderr); nothing here
asserts on timings.

Workloads (see benchmarks/README.md for what each figure means):
  1. TTFT of a cache hit ÷ TTFT of the first (cold) request with a shared system-message
     prefix of 4,000 and 1,024 tokens plus a ~50-token new user message.
  2. Cost of caching when nothing hits: 8 sequential requests with unique ~1,500-token
     prompts, cache on ÷ cache off (mean TTFT and total wall time).
  3. 8 concurrent requests sharing a fresh ~2,000-token prefix, 32 tokens each:
     completion tokens/s, cache on ÷ off.
  4. Memory: bytes per cached token, how many 4,000- and 2,000-token prefixes the default
     budget holds, and a check that fills the budget with distinct 2,000-token prefixes.

Every request uses temperature 0 and a logit_bias of -100 on all end-of-generation tokens,
so each generates exactly ``max_tokens`` tokens. Each prefix starts with a unique ticket
number, so a "cold" request shares no 128-token block with anything sent before.

Usage: .venv/bin/python benchmarks/prompt_cache.py [--runs N] [--quick] [--threads T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    MODEL_ID,
    Setup,
    Tokenizer,
    cpu_sample,
    engine_stats,
    environment,
    finite,
    free_port,
    hearth_command,
    hearth_env,
    interference,
    new_client,
    passage_text,
    server,
)
from serving import (  # noqa: E402
    stream_chat as serving_stream_chat,
)

from hearth.engine.weights import bundled_chat_model  # noqa: E402

BLOCK = 128  # tokens per prompt-cache block (hearth.engine.prefix_cache.BLOCK)
CONTEXT_LENGTH = 8192
KV_CACHE_TOKENS = 16384
WEIGHT_FORMAT = "f16"  # Hearth's default
INSTRUCTION = "You are a careful assistant. Read these notes, then answer the question.\n\n"
QUESTION = (
    "Summarize the notes above in two sentences, then name three details that "
    "matter most to the story and explain in a few words why each of them matters. "
    "Keep the answer short, plain and friendly, and do not repeat the notes word "
    "for word, since the reader already has them in front of them."
)
TTFT_GOALS = {4000: "<= 0.1", 1024: "<= 0.3"}
CAPACITY_PREFIXES = (4000, 2000)


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[prompt_cache] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """Workload sizes (tokens unless named otherwise). ``concurrent_prefix_tokens`` is
    1,950 rather than 2,000 so that all 8 cache-off requests (prompt + ``max_tokens``)
    fit the 16,384 KV cells at once, as the cache-on ones do."""

    ttft_prefixes: tuple[int, ...] = (4000, 1024)
    suffix_tokens: int = 50
    ttft_max_tokens: int = 4
    nohit_requests: int = 8
    nohit_prompt_tokens: int = 1500
    concurrent_streams: int = 8
    concurrent_prefix_tokens: int = 1950
    concurrent_suffix_tokens: int = 16
    concurrent_max_tokens: int = 32
    memory_prefix_tokens: int = 2000
    memory_max_prefixes: int | None = None  # None: one more than the budget holds
    runs: int = 3


QUICK = Sizes(
    ttft_prefixes=(1024, 512),
    nohit_requests=4,
    nohit_prompt_tokens=384,
    concurrent_streams=4,
    concurrent_prefix_tokens=512,
    concurrent_max_tokens=8,
    memory_prefix_tokens=512,
    memory_max_prefixes=3,
    runs=1,
)


# --------------------------------------------------------------------------- prompts


def shared_part(system: str) -> str:
    """The rendered ChatML prompt up to the user message's content: what two requests
    with the same system message and different user messages share."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n"


class Prompts:
    """System messages of an exact rendered length and short user messages."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        passage = passage_text()
        self._filler = "\n\n".join(f"Part {i}.\n{passage}" for i in range(1, 25))

    def system(self, ticket: int, tokens: int) -> tuple[str, int]:
        """A system message starting with ``Ticket NNNNN`` whose shared part (see
        ``shared_part``) is at least ``tokens`` tokens; returns it and that count."""
        head = f"Ticket {ticket:05d}. {INSTRUCTION}"
        n = tokens - self._tok.count(shared_part(head))
        while True:
            text = head + self._tok.head(self._filler, n)
            counted = self._tok.count(shared_part(text))
            if counted >= tokens:
                return text, counted
            n += max(tokens - counted, 1)

    def user(self, label: str, tokens: int) -> str:
        """A user message of about ``tokens`` tokens, distinct per ``label``."""
        return self._tok.head(f"Question {label}: {QUESTION}", tokens)


# --------------------------------------------------------------------------- requests


@dataclass
class Reply:
    """One streamed completion: send time, first/last content chunk, usage."""

    sent: float
    first: float
    end: float
    finish_reason: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int

    @property
    def ttft(self) -> float:
        return self.first - self.sent

    @property
    def total(self) -> float:
        return self.end - self.sent


@dataclass(frozen=True)
class Bench:
    """What every workload needs."""

    sizes: Sizes
    prompts: Prompts
    ban: list[int]


def body(b: Bench, system: str, user: str, max_tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL_ID,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "logit_bias": {str(t): -100 for t in b.ban},
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def stream_chat(client: httpx2.AsyncClient, payload: dict[str, Any]) -> Reply:
    """POST a streaming request (``serving.stream_chat``) and read its usage chunk."""
    stream = await serving_stream_chat(client, payload)
    usage = stream.usage
    if not usage:
        raise RuntimeError("the stream carried no usage")
    details = usage.get("prompt_tokens_details") or {}
    return Reply(
        stream.sent,
        stream.chunk_times[0],
        stream.end,
        stream.finish_reason,
        int(usage["prompt_tokens"]),
        int(details.get("cached_tokens") or 0),
        int(usage["completion_tokens"]),
    )


async def cache_stats(client: httpx2.AsyncClient) -> dict[str, Any]:
    """``prompt_cache`` of ``GET /hearth/engine`` (empty when caching is off), read after
    the engine thread has published its post-step snapshot."""
    await asyncio.sleep(0.05)
    return dict((await engine_stats(client)).get("prompt_cache") or {})


def delta(after: dict[str, Any], before: dict[str, Any], key: str) -> int | None:
    return int(after[key]) - int(before[key]) if key in after and key in before else None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --------------------------------------------------------------------------- workloads


async def warm_up(client: httpx2.AsyncClient, b: Bench) -> None:
    """One short request first: the server's first request pays one-time costs."""
    system, _ = b.prompts.system(90000, 200)
    await stream_chat(client, body(b, system, b.prompts.user("warm-up", 20), 4))


async def ttft_pair(
    client: httpx2.AsyncClient,
    b: Bench,
    size: int,
    ticket: int,
) -> dict[str, Any]:
    """A cold request with a never-seen prefix, then a hit: same prefix, other question."""
    s = b.sizes
    system, shared = b.prompts.system(ticket, size)
    s0 = await cache_stats(client)
    cold = await stream_chat(
        client, body(b, system, b.prompts.user(f"A{ticket}", s.suffix_tokens), s.ttft_max_tokens)
    )
    s1 = await cache_stats(client)
    hit = await stream_chat(
        client, body(b, system, b.prompts.user(f"B{ticket}", s.suffix_tokens), s.ttft_max_tokens)
    )
    s2 = await cache_stats(client)
    return {
        "shared_prefix_tokens": shared,
        "cold": {
            "ttft_s": cold.ttft,
            "prompt_tokens": cold.prompt_tokens,
            "cached_tokens": cold.cached_tokens,
            "engine_hit_tokens": delta(s1, s0, "hit_tokens"),
        },
        "hit": {
            "ttft_s": hit.ttft,
            "prompt_tokens": hit.prompt_tokens,
            "cached_tokens": hit.cached_tokens,
            "engine_hit_tokens": delta(s2, s1, "hit_tokens"),
        },
        "ratio_hit_over_cold": ratio(hit.ttft, cold.ttft),
    }


async def ttft(client: httpx2.AsyncClient, b: Bench) -> dict[str, Any]:
    """Workload 1: per prefix size, ``runs`` cold/hit pairs, each on a fresh prefix."""
    out: dict[str, Any] = {}
    for k, size in enumerate(b.sizes.ttft_prefixes):
        log(f"  ttft, {size}-token prefix")
        runs = [await ttft_pair(client, b, size, 10000 + 100 * k + r) for r in range(b.sizes.runs)]
        cold = median([r["cold"]["ttft_s"] for r in runs])
        hit = median([r["hit"]["ttft_s"] for r in runs])
        out[f"prefix_{size}"] = {
            "goal": TTFT_GOALS.get(size),
            "ratio_hit_over_cold": ratio(hit, cold),
            "cold_ttft_s": cold,
            "hit_ttft_s": hit,
            "shared_prefix_tokens": runs[0]["shared_prefix_tokens"],
            "prompt_tokens": runs[0]["hit"]["prompt_tokens"],
            "cached_tokens": runs[0]["hit"]["cached_tokens"],
            "engine_hit_tokens": runs[0]["hit"]["engine_hit_tokens"],
            "runs": runs,
        }
    return out


async def no_hit(client: httpx2.AsyncClient, b: Bench) -> dict[str, Any]:
    """Workload 2: sequential requests with unique prompts (same tickets on both servers,
    so both get the very same prompts)."""
    s = b.sizes
    log(f"  {s.nohit_requests} sequential unique {s.nohit_prompt_tokens}-token prompts")
    before = await cache_stats(client)
    replies = []
    start = time.perf_counter()
    for i in range(s.nohit_requests):
        system, _ = b.prompts.system(20000 + i, s.nohit_prompt_tokens - s.suffix_tokens)
        replies.append(
            await stream_chat(
                client, body(b, system, b.prompts.user(f"N{i}", s.suffix_tokens), s.ttft_max_tokens)
            )
        )
    wall = time.perf_counter() - start
    after = await cache_stats(client)
    ttfts = [r.ttft for r in replies]
    return {
        "requests": len(replies),
        "prompt_tokens": [r.prompt_tokens for r in replies],
        "wall_s": wall,
        "mean_ttft_s": statistics.fmean(ttfts),
        "median_ttft_s": median(ttfts),
        "ttft_s": ttfts,
        "mean_request_s": statistics.fmean(r.total for r in replies),
        "cached_tokens": sum(r.cached_tokens for r in replies),
        "engine_hits": delta(after, before, "hits"),
    }


async def concurrent_round(
    client: httpx2.AsyncClient,
    b: Bench,
    ticket: int,
) -> dict[str, Any]:
    """Workload 3, one round: ``concurrent_streams`` requests at once on a fresh prefix."""
    s = b.sizes
    n = s.concurrent_max_tokens
    system, shared = b.prompts.system(ticket, s.concurrent_prefix_tokens)
    payloads = [
        body(b, system, b.prompts.user(f"C{ticket}-{i}", s.concurrent_suffix_tokens), n)
        for i in range(s.concurrent_streams)
    ]
    before = await cache_stats(client)
    start = time.perf_counter()
    replies = await asyncio.gather(*(stream_chat(client, p) for p in payloads))
    wall = time.perf_counter() - start
    after = await cache_stats(client)
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "wall_s": wall,
        "completion_tokens": tokens,
        "tokens_per_s": tokens / wall,
        "shared_prefix_tokens": shared,
        "prompt_tokens": [r.prompt_tokens for r in replies],
        "kv_cells_without_cache": sum(r.prompt_tokens + n for r in replies),
        "cached_tokens": [r.cached_tokens for r in replies],
        "engine_hits": delta(after, before, "hits"),
        "engine_hit_tokens": delta(after, before, "hit_tokens"),
        "median_ttft_s": median([r.ttft for r in replies]),
        "streams_cut_short": sum(r.finish_reason != "length" for r in replies),
    }


async def concurrent(client: httpx2.AsyncClient, b: Bench) -> dict[str, Any]:
    """Workload 3: median of ``runs`` rounds."""
    s = b.sizes
    log(
        f"  {s.concurrent_streams} concurrent requests, shared "
        f"{s.concurrent_prefix_tokens}-token prefix"
    )
    rounds = [await concurrent_round(client, b, 30000 + r) for r in range(s.runs)]
    return {
        "streams": s.concurrent_streams,
        "max_tokens": s.concurrent_max_tokens,
        "tokens_per_s": median([r["tokens_per_s"] for r in rounds]),
        "wall_s": median([r["wall_s"] for r in rounds]),
        "runs": rounds,
    }


async def memory(client: httpx2.AsyncClient, b: Bench) -> dict[str, Any]:
    """Workload 4: the budget's capacity from the engine's figures, then filled with
    distinct prefixes; each is sent again afterwards (newest first, so re-sending one that
    lost blocks, which stores them anew, comes last) to see which are still cached."""
    s = b.sizes
    stats = await cache_stats(client)
    per_token, budget = float(stats["bytes_per_token"]), int(stats["budget_bytes"])
    budget_blocks = int(budget // (per_token * BLOCK)) if per_token else 0
    out: dict[str, Any] = {
        "bytes_per_token": per_token,
        "budget_bytes": budget,
        "budget_mib": budget / 2**20,
        "budget_tokens": budget / per_token if per_token else None,
        "budget_blocks": budget_blocks,
        "prefixes_held": {
            str(n): math.floor(budget / (per_token * n)) if per_token else None
            for n in CAPACITY_PREFIXES
        },
    }
    size = s.memory_prefix_tokens
    log(f"  memory: filling the budget with {size}-token prefixes")
    before = stats
    prompts: list[dict[str, Any]] = []
    fills: list[dict[str, Any]] = []
    target = s.memory_max_prefixes or 1
    while len(prompts) < target:
        system, shared = b.prompts.system(40000 + len(prompts), size)
        payload = body(b, system, b.prompts.user(f"M{len(prompts)}", 8), 1)
        reply = await stream_chat(client, payload)
        prompts.append(payload)
        st = await cache_stats(client)
        fills.append(
            {
                "prompt_tokens": reply.prompt_tokens,
                "shared_prefix_tokens": shared,
                "stored_tokens": st["stored_tokens"],
                "stored_bytes": st["stored_bytes"],
            }
        )
        if len(prompts) == 1:
            blocks = (reply.prompt_tokens - 1) // BLOCK  # cacheable blocks per prompt
            fit = budget_blocks // blocks if blocks else 0
            if s.memory_max_prefixes is None:
                target = fit + 1
            out.update(blocks_per_prompt=blocks, prompts_the_budget_holds=fit)
    after = await cache_stats(client)
    hits: list[int | None] = [None] * len(prompts)
    for i in reversed(range(len(prompts))):
        s0 = await cache_stats(client)
        await stream_chat(client, prompts[i])
        hits[i] = delta(await cache_stats(client), s0, "hit_tokens")
    full = out["blocks_per_prompt"] * BLOCK
    out["verify"] = {
        "prefix_tokens": size,
        "prompts_sent": len(prompts),
        "overflowed": len(prompts) > out["prompts_the_budget_holds"],
        "stored_tokens_after": after["stored_tokens"],
        "stored_bytes_after": after["stored_bytes"],
        "evicted_lru": delta(after, before, "evicted_lru"),
        "hit_tokens_on_resend_oldest_first": hits,
        "fully_cached_on_resend": sum(h == full for h in hits),
        "expected_fully_cached": min(len(prompts), out["prompts_the_budget_holds"]),
        "fills": fills,
    }
    return out


# --------------------------------------------------------------------------- servers


def run_server(name: str, cache_on: bool, setup: Setup, b: Bench) -> dict[str, Any]:
    """Start Hearth (caching on or off), run its workloads, stop it."""
    port = free_port()
    env = hearth_env(WEIGHT_FORMAT, setup.threads, setup.flash_attention)
    env.update(
        HEARTH_PROMPT_CACHE=str(cache_on).lower(),
        HEARTH_CONTEXT_LENGTH=str(CONTEXT_LENGTH),
        HEARTH_KV_CACHE_TOKENS=str(KV_CACHE_TOKENS),
    )
    log(f"hearth, prompt cache {name}, on port {port}")
    cmd = hearth_command(port, setup.data_dir / f"data-{name}")

    async def workloads(base: str) -> dict[str, Any]:
        async with new_client(base) as client:
            await warm_up(client, b)
            result: dict[str, Any] = {}
            if cache_on:
                result["ttft"] = await ttft(client, b)
            result["no_hit"] = await no_hit(client, b)
            result["concurrent"] = await concurrent(client, b)
            if cache_on:
                result["memory"] = await memory(client, b)
            result["prompt_cache_stats"] = await cache_stats(client) or None
            return result

    with server(cmd, env, port, setup.logs / f"hearth-{name}.log", "/v1/models") as running:
        before = cpu_sample(running.pid)
        result = asyncio.run(workloads(running.base))
        after = cpu_sample(running.pid)
    busy = interference(before, after)
    if (busy.get("other_processes_cores") or 0.0) > 0.2:
        log(
            f"  warning: other processes used {busy['other_processes_cores']:.2f} cores "
            "meanwhile; this server's timings are not comparable"
        )
    return {"startup_s": running.startup_s, **result, "interference": busy}


def summary(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """The headline ratios; each key says its goal or which direction is better."""
    out: dict[str, Any] = {}
    for key, fig in on["ttft"].items():
        goal = f"goal {fig['goal']}" if fig["goal"] else "lower is better"
        out[f"ttft_hit_over_cold.{key} ({goal})"] = fig["ratio_hit_over_cold"]
    a, z = on["no_hit"], off["no_hit"]
    out["no_hit_on_over_off.mean_ttft (goal <= 1.03)"] = ratio(a["mean_ttft_s"], z["mean_ttft_s"])
    out["no_hit_on_over_off.wall (goal <= 1.03)"] = ratio(a["wall_s"], z["wall_s"])
    a, z = on["concurrent"], off["concurrent"]
    out["concurrent_on_over_off.tokens_per_s (goal >= 3)"] = ratio(
        a["tokens_per_s"], z["tokens_per_s"]
    )
    out["concurrent_on_over_off.wall (lower is better)"] = ratio(a["wall_s"], z["wall_s"])
    for name, side in (("on", on), ("off", off)):
        out[f"interference.other_processes_cores.{name} (should be ~0)"] = side["interference"].get(
            "other_processes_cores"
        )
    mem = on["memory"]
    out["memory.bytes_per_token"] = mem["bytes_per_token"]
    for n, held in mem["prefixes_held"].items():
        out[f"memory.{n}_token_prefixes_in_default_budget"] = held
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="repetitions of workloads 1 and 3 (default 3; 1 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="llama.cpp threads (default: all cores)",
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    base = QUICK if args.quick else Sizes()
    sizes = replace(base, runs=args.runs or base.runs)
    tokenizer = Tokenizer(bundled_chat_model().path)
    b = Bench(sizes, Prompts(tokenizer), tokenizer.end_of_generation_ids())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-cache-") as tmp:
        setup = Setup(
            threads=args.threads, flash_attention=True, data_dir=Path(tmp), logs=Path(tmp)
        )
        on = run_server("on", True, setup, b)
        off = run_server("off", False, setup, b)
    doc = {
        "benchmark": "prompt_cache",
        "quick": args.quick,
        "environment": environment(setup),
        "settings": {
            "weight_format": WEIGHT_FORMAT,
            "context_length": CONTEXT_LENGTH,
            "kv_cache_tokens": KV_CACHE_TOKENS,
            "prompt_cache_memory_mb": "default (weights' size, at least 256 MiB)",
        },
        "sizes": asdict(sizes),
        "banned_token_ids": b.ban,
        "ratios": summary(on, off),
        "cache_on": on,
        "cache_off": off,
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
