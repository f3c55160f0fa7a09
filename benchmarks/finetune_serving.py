"""Distillation, figure 3: decode speed of a fine-tuned model ÷ its base, through the server.

Starts ``hearth serve`` on a fresh data dir, trains a small LoRA job through the API
(``client.fine_tuning.jobs``), then times greedy decodes of the base and the fine-tuned
model alternately (same prompts, ``max_completion_tokens`` tokens each, end-of-generation
tokens banned so every request decodes exactly that many), one stream at a time. Decode
tokens/s = (tokens - 1) / (last chunk time - first chunk time) of a streamed answer.
Prints one JSON document on stdout; progress goes to stderr. Nothing here asserts.

Usage: .venv/bin/python benchmarks/finetune_serving.py [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.conftest import start_server, stop_server  # noqa: E402

MODEL = "smollm2-135m-instruct"
API_KEY = "sk-benchmark-finetune"
NO_EOG = {"0": -100, "2": -100, "4": -100}
PROMPTS = [
    "Tell me about the sea.",
    "Describe a busy market.",
    "Explain how bread is made.",
    "Write about a mountain village.",
    "Describe a thunderstorm.",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def decode_rate(client: openai.OpenAI, model: str, prompt: str, tokens: int) -> float:
    """Tokens/s between the first and the last streamed token."""
    stamps = []
    stream = client.chat.completions.create(
        model=model,
        temperature=0,
        max_completion_tokens=tokens,
        logit_bias=NO_EOG,
        stream=True,
        messages=[{"role": "user", "content": prompt}],
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def train(client: openai.OpenAI) -> str:
    rows = [
        {
            "messages": [
                {"role": "user", "content": p},
                {"role": "assistant", "content": f"Arr matey! {p}"},
            ]
        }
        for p in PROMPTS * 4
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    file_id = client.files.create(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
    )
    started = time.monotonic()
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise SystemExit(f"fine-tuning failed: {job.error}")
    log(f"trained {job.fine_tuned_model} in {time.monotonic() - started:.0f} s")
    return job.fine_tuned_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            Path(tmp) / "data", "--api-key", API_KEY, env={"HEARTH_AUDIO": "false"}
        )
        try:
            with openai.OpenAI(
                base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=600
            ) as client:
                tuned = train(client)
                rates: dict[str, list[float]] = {MODEL: [], tuned: []}
                for model in rates:  # warm-up: load, convert, first prefill
                    decode_rate(client, model, PROMPTS[0], 16)
                for i in range(args.rounds):
                    for model in (MODEL, tuned) if i % 2 == 0 else (tuned, MODEL):
                        rates[model].append(
                            decode_rate(client, model, PROMPTS[i % len(PROMPTS)], args.tokens)
                        )
                    log(
                        f"round {i + 1}: base {rates[MODEL][-1]:.1f}, "
                        f"fine-tuned {rates[tuned][-1]:.1f} tokens/s"
                    )
        finally:
            stop_server(server)
    base = statistics.median(rates[MODEL])
    ft = statistics.median(rates[tuned])
    result: dict[str, Any] = {
        "figure": "fine-tuned decode tokens/s / base decode tokens/s (goal >= 0.9)",
        "cpu_count": os.cpu_count(),
        "rounds": args.rounds,
        "tokens": args.tokens,
        "base_tokens_per_s": round(base, 1),
        "finetuned_tokens_per_s": round(ft, 1),
        "ratio": round(ft / base, 3),
        "base_all": [round(r, 1) for r in rates[MODEL]],
        "finetuned_all": [round(r, 1) for r in rates[tuned]],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
