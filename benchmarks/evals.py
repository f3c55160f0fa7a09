"""Eval run throughput: samples graded per second over stored completions.

Starts ``hearth serve`` (fresh temp data dir, Hearth's defaults: ``eval_concurrency`` 4),
has the bundled model answer ``--items`` short questions (``max_tokens`` 8), stores them
as stored completions tagged with one metadata value (``store: true`` when the server
keeps them; otherwise the answers are written with ``StoredCompletions.save``, the same
row ``store: true`` writes), then times eval runs from ``runs.create`` to ``completed``:

  1. ``grade_only``: a ``completions`` run over the ``stored_completions`` source with no
     model, one ``string_check`` criterion: each stored answer is graded as it is (the
     cost of the run machinery: selecting rows, grading, writing output items durably).
  2. ``with_generation``: the same run with ``model`` set and ``input_messages``
     ``item.input``: the model answers every stored input again (``max_completion_tokens``
     8, temperature 0) before grading.
  3. ``direct_chat``: the baseline for 2, the same requests sent straight to Chat
     Completions, 4 at a time (as many as ``eval_concurrency``).

Prints one JSON document on stdout (progress on stderr); nothing asserts on timings.

Usage: .venv/bin/python benchmarks/evals.py [--items 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import API_KEY, MODEL_ID, free_port, hearth_command, server  # noqa: E402

from hearth.services.chat.params import ChatCompletionParams  # noqa: E402
from hearth.services.chat.stored import StoredCompletions  # noqa: E402
from hearth.store.api_keys import ApiKeyStore  # noqa: E402
from hearth.store.db import create_db_engine, session_factory  # noqa: E402
from hearth.store.stored_completions import StoredCompletionRepository  # noqa: E402

TOPICS = ("rain", "bread", "cats", "rivers", "music", "chess", "snow", "tea", "maps", "bees")
CRITERION = {
    "type": "string_check",
    "name": "kept",
    "input": "{{sample.output_text}}",
    "reference": "{{item.output_text}}",
    "operation": "eq",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def store_answers(client: openai.AsyncOpenAI, data_dir: Path, items: int, tag: str) -> str:
    """``items`` stored completions with metadata ``{"bench": tag}``; how they were stored."""
    sessions = session_factory(create_db_engine(f"sqlite:///{data_dir / 'hearth.db'}"))
    principal = ApiKeyStore(sessions).verify(API_KEY)
    assert principal is not None
    stored = StoredCompletions(StoredCompletionRepository(sessions))
    gate = asyncio.Semaphore(8)
    kept_by_server = True

    async def one(i: int) -> None:
        nonlocal kept_by_server
        messages = [{"role": "user", "content": f"Say one word about {TOPICS[i % 10]} (#{i})."}]
        request = {
            "model": MODEL_ID,
            "messages": messages,
            "max_tokens": 8,
            "temperature": 0,
            "store": True,
            "metadata": {"bench": tag},
        }
        async with gate:
            done = await client.chat.completions.create(**request)  # type: ignore[call-overload]
        if kept_by_server:
            try:
                await client.chat.completions.retrieve(done.id)
                return
            except openai.NotFoundError:
                kept_by_server = False
        await stored.save(principal, ChatCompletionParams.model_validate(request), done)

    await asyncio.gather(*(one(i) for i in range(items)))
    return "store: true" if kept_by_server else "StoredCompletions.save"


async def timed_run(
    client: openai.AsyncOpenAI, eval_id: str, data_source: dict[str, Any]
) -> dict[str, Any]:
    start = time.perf_counter()
    run = await client.evals.runs.create(eval_id, data_source=data_source)  # type: ignore[arg-type]
    while run.status not in ("completed", "failed", "canceled"):
        await asyncio.sleep(0.05)
        run = await client.evals.runs.retrieve(run.id, eval_id=eval_id)
    seconds = time.perf_counter() - start
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.error}")
    total = run.result_counts.total
    return {
        "seconds": round(seconds, 3),
        "samples": total,
        "samples_per_s": round(total / seconds, 2),
        "passed": run.result_counts.passed,
        "usage": [u.model_dump(by_alias=True) for u in run.per_model_usage],
    }


async def direct_chat(client: openai.AsyncOpenAI, items: int) -> dict[str, Any]:
    """The generation of ``with_generation`` sent to Chat Completions directly."""
    gate = asyncio.Semaphore(4)

    async def one(i: int) -> None:
        messages = [{"role": "user", "content": f"Say one word about {TOPICS[i % 10]} (#{i})."}]
        async with gate:
            await client.chat.completions.create(
                model=MODEL_ID,
                messages=messages,  # type: ignore[arg-type]
                max_completion_tokens=8,
                temperature=0,
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(items)))
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "samples": items,
        "samples_per_s": round(items / seconds, 2),
    }


async def bench(base: str, data_dir: Path, items: int, runs: int) -> dict[str, Any]:
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, timeout=600
    ) as client:
        tag = secrets.token_hex(4)
        log(f"storing {items} completions")
        how = await store_answers(client, data_dir, items, tag)
        ev = await client.evals.create(
            name="throughput",
            testing_criteria=[CRITERION],  # type: ignore[list-item]
            data_source_config={"type": "stored_completions", "metadata": {"bench": tag}},
        )
        source = {"type": "stored_completions", "metadata": {"bench": tag}}
        grade_only = []
        for i in range(runs):
            log(f"grade_only run {i + 1}/{runs}")
            grade_only.append(
                await timed_run(client, ev.id, {"type": "completions", "source": source})
            )
        log("with_generation run")
        generated = await timed_run(
            client,
            ev.id,
            {
                "type": "completions",
                "source": source,
                "model": MODEL_ID,
                "input_messages": {"type": "item_reference", "item_reference": "item.input"},
                "sampling_params": {"temperature": 0, "max_completion_tokens": 8},
            },
        )
        log("direct_chat baseline")
        baseline = await direct_chat(client, items)
    return {
        "items": items,
        "stored_with": how,
        "eval_concurrency": 4,
        "grade_only": {
            "samples_per_s_median": statistics.median(r["samples_per_s"] for r in grade_only),
            "runs": grade_only,
        },
        "with_generation": generated,
        "direct_chat": baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_LOG_LEVEL"] = "warning"
    with tempfile.TemporaryDirectory(prefix="hearth-evals-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        with server(
            hearth_command(port, data_dir), env, port, Path(tmp) / "serve.log", "/health"
        ) as running:
            result = asyncio.run(bench(running.base, data_dir, args.items, args.runs))
    result["environment"] = {"cpus": os.cpu_count(), "model": MODEL_ID}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
