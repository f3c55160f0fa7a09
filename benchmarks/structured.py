"""Structured Outputs benchmark: MaskBench coverage, grammar and mask costs, decode speed.

On the MaskBench dev set (JSONSchemaBench, ../shared/datasets/maskbench/dev.jsonl.gz):
  1. coverage: which schemas Hearth accepts, and whether the masks agree with every test
     instance of those (the walk of tests/engine/test_maskbench.py, which this imports);
  2. grammar cost: a first request's compile (``enforceable`` + ``json_schema`` on a fresh
     ``GrammarCompiler``) and first mask, and a cache hit (``json_schema`` + ``constraint``);
  3. mask cost: each ``MaskWorker`` mask while walking the valid instances token by token.
Then, with the bundled model served in-process (``Services.build``), the decode speed of
the same chat request with and without a JSON Schema, alone and 4 at a time.
Prints one JSON document on stdout (progress goes to stderr); nothing here asserts.

Usage: .venv/bin/python benchmarks/structured.py [--every K] [--runs N] [--threads T]
                                                  [--dataset PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hearth import __version__ as hearth_version  # noqa: E402
from hearth.app import create_app  # noqa: E402
from hearth.config import Settings  # noqa: E402
from hearth.engine.constraints import GrammarCompiler, MaskWorker  # noqa: E402
from hearth.services.chat.params import JsonSchemaFormat  # noqa: E402
from hearth.services.chat.structured import schema_instructions  # noqa: E402
from hearth.services.container import Services  # noqa: E402
from tests.engine.test_maskbench import (  # noqa: E402
    DATASET,
    KNOWN_REJECTIONS,
    Vocab,
    Walk,
    accepted_schema,
    load_rows,
    run_maskbench,
)

MODEL = "smollm2-135m-instruct"
API_KEY = "sk-hearth-benchmark-0123456789"
NO_EOG = {"0": -100, "2": -100, "4": -100}  # SmolLM2's end-of-generation tokens
MAX_TOKENS = 256
PROMPT = "List 30 fruits as JSON: an object whose key items is an array of their names."
# minItems 300 cannot be met in 256 tokens: the grammar never completes, so both sides
# generate exactly max_tokens.
LONG_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "string", "maxLength": 32}, "minItems": 300}
    },
    "required": ["items"],
    "additionalProperties": False,
}


def log(message: str) -> None:
    print(f"[structured] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float, scale: float = 1e3) -> float | None:
    """The q-quantile (nearest rank) of ``values`` times ``scale`` (ms by default)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * scale


def coverage(
    rows: list[dict[str, Any]], compiler: GrammarCompiler, vocab: Vocab, n_vocab: int
) -> dict[str, Any]:
    """Figure 1: the test's walk over every schema and instance (64 masks per call)."""
    worker, calls = MaskWorker(n_vocab, overlap=False), [0.0, 0]

    def count(seconds: float, n: int) -> None:
        calls[0] += seconds
        calls[1] += n

    try:
        report = run_maskbench(rows, compiler, vocab, worker, on_masks=count)
    finally:
        worker.close()
    accepted = set(report.accepted)
    bad_schemas = {o.schema_id for o in report.disagreements}
    return {
        "schemas": report.rows,
        "accepted": len(accepted),
        "accepted_fraction (goal >= 0.75)": len(accepted) / report.rows,
        "instances": len(report.outcomes),
        "valid_instances": sum(o.valid for o in report.outcomes),
        "accepted_schemas_without_disagreement_fraction": 1 - len(bad_schemas) / len(accepted)
        if accepted
        else None,
        "unsound_instances (goal 0)": len(report.unsound),
        "unsound": [f"{o.schema_id}#{o.index}" for o in report.unsound],
        "valid_rejected": [
            f"{o.schema_id}#{o.index}: {o.reason}" for o in report.disagreements if o.valid
        ],
        "valid_rejected_known": sum(
            (o.schema_id, o.index) in KNOWN_REJECTIONS for o in report.disagreements
        ),
        "passed_after_key_reorder": sum(o.reordered for o in report.outcomes),
        "instances_with_resplit_tokens": sum(o.resplits > 0 for o in report.outcomes),
        "batched_mask_us_per_mask": calls[0] / calls[1] * 1e6 if calls[1] else None,
    }


def costs(
    rows: list[dict[str, Any]], compiler: GrammarCompiler, vocab: Vocab, n_vocab: int
) -> dict[str, Any]:
    """Figures 2 and 3: per schema a fresh compiler (cold), a hit, the first mask; then
    one MaskWorker call per token of each valid instance."""
    cold, rejected, hit, first, masks = [], [], [], [], []
    worker = MaskWorker(n_vocab, overlap=False)
    try:
        for row in rows:
            fresh = GrammarCompiler(compiler.tokenizer)
            start = time.perf_counter()
            ready = accepted_schema(fresh, row["schema"])
            if ready is None:
                rejected.append(time.perf_counter() - start)
                continue
            grammar = fresh.json_schema(ready)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            constraint = fresh.json_schema(ready).constraint()
            hit.append(time.perf_counter() - start)
            start = time.perf_counter()
            worker.start([constraint]).result()
            first.append(time.perf_counter() - start)
            for case in row["tests"]:
                if not case["valid"]:
                    continue
                walk = Walk(
                    grammar.constraint(), json.dumps(case["data"], ensure_ascii=False), vocab
                )
                while walk.verdict is None:
                    start = time.perf_counter()
                    mask = worker.start([walk.constraint]).result()[0]
                    masks.append(time.perf_counter() - start)
                    walk.step(mask)
    finally:
        worker.close()
    return {
        "compile_cold_ms": {
            "p50 (goal <= 5)": pct(cold, 0.5),
            "p99 (goal <= 100)": pct(cold, 0.99),
            "max": pct(cold, 1.0),
            "schemas": len(cold),
        },
        "rejected_schema_ms": {"p50": pct(rejected, 0.5), "p99": pct(rejected, 0.99)},
        "cache_hit_ms": {"p50 (goal <= 0.1)": pct(hit, 0.5), "p99": pct(hit, 0.99)},
        "first_mask_ms": {"p50": pct(first, 0.5), "p99": pct(first, 0.99), "max": pct(first, 1.0)},
        "mask_ms": {
            "p50": pct(masks, 0.5),
            "p99": pct(masks, 0.99),
            "max": pct(masks, 1.0),
            "masks": len(masks),
        },
    }


async def request(client: openai.AsyncOpenAI, constrained: bool, max_tokens: int) -> int:
    """One non-streaming chat completion; returns its completion tokens."""
    spec = {"name": "fruits", "schema": LONG_SCHEMA, "strict": True}
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    extra: dict[str, Any] = {}
    if constrained:
        extra["response_format"] = {"type": "json_schema", "json_schema": spec}
    else:  # the same prompt: the system line Hearth adds for the schema, without the mask
        hint = schema_instructions(JsonSchemaFormat.model_validate(spec))
        messages.insert(0, {"role": "system", "content": hint})
    out = await client.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=max_tokens,
        temperature=0,
        logit_bias=NO_EOG,
        **extra,
    )
    assert out.usage is not None
    return out.usage.completion_tokens


async def timed(
    client: openai.AsyncOpenAI, constrained: bool, streams: int, max_tokens: int = MAX_TOKENS
) -> tuple[float, list[int]]:
    start = time.perf_counter()
    tokens = await asyncio.gather(
        *(request(client, constrained, max_tokens) for _ in range(streams))
    )
    return time.perf_counter() - start, list(tokens)


async def decode(client: openai.AsyncOpenAI, runs: int) -> dict[str, Any]:
    """Figure 3b: the same request with and without the schema, runs interleaved."""
    out: dict[str, Any] = {
        "prompt": PROMPT,
        "schema": LONG_SCHEMA,
        "max_tokens": MAX_TOKENS,
        "logit_bias": NO_EOG,
    }
    for constrained in (False, True):  # warm-up (compiles the grammar)
        await timed(client, constrained, 1)
    for streams in (1, 4):
        side: dict[str, dict[str, Any]] = {}
        for constrained in (False, True):
            ttft = statistics.median(
                [(await timed(client, constrained, streams, 1))[0] for _ in range(runs)]
            )
            side["constrained" if constrained else "unconstrained"] = {
                "ttft_s": ttft,
                "walls_s": [],
                "completion_tokens": [],
            }
        for _ in range(runs):
            for name, s in side.items():
                wall, tokens = await timed(client, name == "constrained", streams)
                s["walls_s"].append(wall)
                s["completion_tokens"].append(tokens)
        for s in side.values():
            wall, total = statistics.median(s["walls_s"]), sum(s["completion_tokens"][0])
            s["tokens_per_s"] = total / wall  # completion tokens / wall time
            # decode only: less the prefill and first tokens (max_tokens=1 requests)
            s["decode_tokens_per_s"] = (total - streams) / (wall - s["ttft_s"])
        c, u = side["constrained"], side["unconstrained"]
        out[f"streams_{streams}"] = {
            **side,
            "same_completion_tokens": c["completion_tokens"] == u["completion_tokens"],
            "ratio_tokens_per_s (goal >= 0.95)": c["tokens_per_s"] / u["tokens_per_s"],
            "ratio_decode_tokens_per_s": c["decode_tokens_per_s"] / u["decode_tokens_per_s"],
        }
    return out


async def serve_and_decode(services: Services, runs: int) -> dict[str, Any]:
    transport = httpx2.ASGITransport(app=create_app(services.settings, services))
    async with (
        httpx2.AsyncClient(
            transport=transport, base_url="http://hearth.bench", timeout=600
        ) as http,
        openai.AsyncOpenAI(
            base_url="http://hearth.bench/v1", api_key=API_KEY, http_client=http, max_retries=0
        ) as client,
    ):
        return await decode(client, runs)


def finite(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument(
        "--every", type=int, default=1, help="use every K-th schema (default 1: the full dev set)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per decode figure")
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (default: Hearth's, all cores)"
    )
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        sys.exit(f"MaskBench dataset not found: {args.dataset}")
    rows = load_rows(args.dataset)[:: args.every]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-structured-") as tmp:
        log("loading the model (converting the weights into a temp dir)")
        settings = Settings(
            data_dir=Path(tmp),
            api_key=SecretStr(API_KEY),
            log_level="warning",
            threads=args.threads,
        )
        services = Services.build(settings)
        try:
            served = services.registry.get(MODEL)
            vocab, n_vocab = Vocab(served.runner), served.runner.info.n_vocab
            tokenizer = served.grammars.tokenizer
            log(f"coverage over {len(rows)} schemas")
            cover = coverage(rows, GrammarCompiler(tokenizer), vocab, n_vocab)
            log("compile and mask costs")
            cost = costs(rows, served.grammars, vocab, n_vocab)
            log("decode speed")
            speed = asyncio.run(serve_and_decode(services, args.runs))
        finally:
            services.close()
    doc = {
        "benchmark": "structured",
        "dataset": str(args.dataset),
        "every": args.every,
        "environment": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "hearth": hearth_version,
            "weight_format": services.settings.weight_format,
            "threads": args.threads or os.cpu_count(),
        },
        "coverage": cover,
        "costs": cost,
        "decode": speed,
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
