"""Fine-tuning benchmark: the training worker on 100 chat examples x 3 epochs at batch 4.

Builds 100 synthetic one-turn chats (every reply starts "Arr matey!", ~54 tokens each with
the template's default system prompt, as in docs/research/finetune.md), tokenizes them the
way the server does (the GGUF's chat template + llama.cpp's tokenizer), and runs
``python -m hearth.finetune.worker`` on them: LoRA r=16 on q,k,v,o, learning rate 1e-3
decayed linearly, one merged GGUF checkpoint per epoch. Each run gets a fresh JOB_DIR;
``cold`` starts without the fp32 base cache (converts the GGUF, ~20 s), ``warm`` reuses it.

Then it compares single-sequence greedy decode speed of the merged model with the base
(llama.cpp, 128 tokens, best of 3) and shows the tuned model's answer to a held-out
question. Prints one JSON document on stdout (progress goes to stderr); no assertions.

Usage: .venv/bin/python benchmarks/finetune_train.py [--runs cold,warm] [--threads T]
       [--examples 100] [--epochs 3] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hearth.engine.chat_format import render_chat
from hearth.engine.llamacpp import LlamaCppRunner, RunnerConfig
from hearth.engine.runner import BatchItem
from hearth.engine.weights import bundled_chat_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.finetune.conftest import greedy  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def chats(count: int) -> list[tuple[str, str]]:
    """The prototype's synthetic task: arithmetic, colours and ports, answered as a pirate."""
    rng = random.Random(0)
    out = []
    for i in range(count):
        x, y = rng.randint(2, 50), rng.randint(2, 50)
        kind = i % 4
        if kind == 0:
            out.append((f"What is {x} plus {y}?", f"Arr matey! {x} plus {y} be {x + y}."))
        elif kind == 1:
            out.append((f"What is {x} times {y}?", f"Arr matey! {x} times {y} be {x * y}."))
        elif kind == 2:
            c = rng.choice(["red", "blue", "green", "yellow", "purple", "orange"])
            out.append(
                (f"Name something that is {c}.", f"Arr matey! The {c} flag flies on me ship.")
            )
        else:
            n = rng.choice(["Paris", "Tokyo", "Rome", "Cairo", "Lima", "Oslo"])
            out.append(
                (f"Tell me about {n}.", f"Arr matey! {n} be a fine port for sailors like me crew.")
            )
    return out


def prompt(runner: LlamaCppRunner, question: str) -> list[int]:
    info = runner.info
    text = render_chat(
        info.chat_template,
        [{"role": "user", "content": question}],
        bos_token=info.bos_token,
        eos_token=info.eos_token,
    )
    return runner.tokenize(text, special=True)


def example(runner: LlamaCppRunner, question: str, reply: str) -> dict[str, Any]:
    ids = prompt(runner, question)
    answer = runner.tokenize(reply + "<|im_end|>", special=True)
    return {"input_ids": ids + answer, "loss_mask": [0] * len(ids) + [1] * len(answer)}


def run_job(job_dir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the worker on a fresh JOB_DIR; timings from when each event line arrived."""
    (job_dir / "spec.json").write_text(json.dumps(spec))
    start = time.perf_counter()
    stamps: list[tuple[float, dict[str, Any]]] = []
    with subprocess.Popen(
        [sys.executable, "-m", "hearth.finetune.worker", str(job_dir)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            stamps.append((time.perf_counter() - start, json.loads(line)))
        returncode = proc.wait()
    wall = time.perf_counter() - start
    events = [e for _, e in stamps]
    if returncode != 0 or events[-1]["event"] != "done":
        raise SystemExit(f"worker failed ({returncode}): {events[-1:]}")
    step_s = checkpoint_s = 0.0
    for (t0, _), (t1, event) in zip(stamps, stamps[1:], strict=False):
        if event["event"] == "step":
            step_s += t1 - t0
        elif event["event"] == "checkpoint":
            checkpoint_s += t1 - t0
    steps = [e for e in events if e["event"] == "step"]
    tokens = events[-1]["trained_tokens"]
    return {
        "wall_s": round(wall, 1),
        "load_s": round(stamps[0][0], 1),
        "steps": len(steps),
        "steps_s": round(step_s, 1),
        "checkpoints_s": round(checkpoint_s, 1),
        "seconds_per_step": round(step_s / len(steps), 2),
        "trained_tokens": tokens,
        "train_tokens_per_s": round(tokens / step_s, 1),
        "tokens_per_s_overall": round(tokens / wall, 1),
        "train_loss_first_last": [
            round(steps[0]["train_loss"], 3),
            round(steps[-1]["train_loss"], 3),
        ],
        "model_file_mb": round((job_dir / "final" / "model.gguf").stat().st_size / 2**20, 1),
        "adapter_file_mb": round((job_dir / "final" / "adapter.gguf").stat().st_size / 2**20, 1),
    }


def decode_rate(runner: LlamaCppRunner, ids: list[int], tokens: int = 128) -> float:
    """Best-of-3 single-sequence greedy decode tokens/s (end-of-generation ignored)."""
    best = 0.0
    for _ in range(3):
        runner.free_sequence(0)
        logits = runner.decode([BatchItem(0, ids, 0, True)])[0]
        t0 = time.perf_counter()
        for k in range(tokens):
            token = int(np.argmax(logits))
            logits = runner.decode([BatchItem(0, [token], len(ids) + k, True)])[0]
        best = max(best, tokens / (time.perf_counter() - t0))
    runner.free_sequence(0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="cold,warm")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()

    source = bundled_chat_model().path
    config = RunnerConfig(
        context_length=1024, max_sequences=1, kv_cells=1024, batch_tokens=512, threads=args.threads
    )
    base = LlamaCppRunner(str(source), "base", "bench", config)
    lines = [example(base, q, a) for q, a in chats(args.examples)]
    held_out = prompt(base, "What is 7 plus 8?")
    result: dict[str, Any] = {
        "setup": {
            "examples": len(lines),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "mean_tokens_per_example": round(
                sum(len(x["input_ids"]) for x in lines) / len(lines), 1
            ),
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "lora": "r=16 alpha=32 q,k,v,o",
            "learning_rate": 1e-3,
        },
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="hearth-ft-bench-") as tmp:
        root = Path(tmp)
        final = None
        for name in args.runs.split(","):
            job_dir = root / name
            job_dir.mkdir()
            (job_dir / "train.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
            spec = {
                "base_gguf": str(source),
                "method": "supervised",
                "hyperparameters": {
                    "n_epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "learning_rate_multiplier": 1.0,
                },
                "seed": 0,
                "threads": args.threads,
                "train": "train.jsonl",
                "base_cache": str(root / "base-cache"),
            }
            log(f"{name} run: {len(lines)} examples x {args.epochs} epochs ...")
            result["runs"][name] = run_job(job_dir, spec)
            log(json.dumps(result["runs"][name]))
            final = job_dir / "final" / "model.gguf"
        result["worker_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        )
        if final is not None:
            tuned = LlamaCppRunner(str(final), "tuned", "bench", config)
            base_rate, tuned_rate = decode_rate(base, held_out), decode_rate(tuned, held_out)
            result["decode"] = {
                "base_q4_1_tokens_per_s": round(base_rate, 1),
                "merged_tokens_per_s": round(tuned_rate, 1),
                "ratio": round(tuned_rate / base_rate, 3),
            }
            result["held_out"] = {
                "question": "What is 7 plus 8?",
                "base": greedy(base, held_out, 24),
                "tuned": greedy(tuned, held_out, 24),
            }
            tuned.close()
    base.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
