"""Fine-tuning worker fixtures: the real bundled model, real llama.cpp tokenization (the
server's chat template), the worker as a subprocess, and transformers for reference logits.

Loading the GGUF into transformers costs ~20 s, so the session does it once and keeps the
fp32 weights in a ``base_cache`` directory that every worker run and test loads in ~1 s.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hearth.engine.chat_format import render_chat
from hearth.engine.llamacpp import LlamaCppRunner, RunnerConfig
from hearth.engine.runner import BatchItem
from hearth.engine.weights import bundled_chat_model
from hearth.finetune.spec import parse_event

REPLY = "Arr matey! Hearth be here."
QUESTIONS = [
    "What is 2 plus 3?",
    "Name a color.",
    "Tell me about Rome.",
    "What is the capital of Spain?",
    "How are you?",
    "What is 7 times 6?",
    "Name an animal.",
    "Tell me about Oslo.",
    "What is the capital of France?",
    "Say something nice.",
]
# One thread for llama.cpp and torch in the test process: on a box shared with other test
# runs, waiting OpenMP threads spin and a 12-token decode takes 17 s instead of 0.5 s.
SMALL = RunnerConfig(context_length=512, max_sequences=1, kv_cells=512, batch_tokens=512, threads=1)


@dataclass
class WorkerRun:
    returncode: int
    events: list[dict[str, Any]]

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def bundled() -> Path:
    return bundled_chat_model().path


@pytest.fixture(scope="session")
def llama(bundled: Path) -> Iterator[LlamaCppRunner]:
    """The base model in llama.cpp: tokenizer and reference generations."""
    runner = LlamaCppRunner(str(bundled), "base", "test", SMALL)
    yield runner
    runner.close()


def prompt_ids(runner: LlamaCppRunner, question: str) -> list[int]:
    """A one-turn chat prompt as the server renders it (the model's own template)."""
    info = runner.info
    text = render_chat(
        info.chat_template,
        [{"role": "user", "content": question}],
        bos_token=info.bos_token,
        eos_token=info.eos_token,
    )
    return runner.tokenize(text, special=True)


def reply_ids(runner: LlamaCppRunner, reply: str) -> list[int]:
    """The assistant's reply plus its end-of-turn token (so the model learns to stop)."""
    return runner.tokenize(reply + "<|im_end|>", special=True)


def supervised_line(runner: LlamaCppRunner, question: str, reply: str) -> dict[str, Any]:
    prompt, answer = prompt_ids(runner, question), reply_ids(runner, reply)
    return {"input_ids": prompt + answer, "loss_mask": [0] * len(prompt) + [1] * len(answer)}


def greedy(runner: LlamaCppRunner, prompt: list[int], max_tokens: int = 12) -> str:
    """Greedy continuation of ``prompt`` (sequence 0, cache cleared first)."""
    runner.free_sequence(0)
    logits = runner.decode([BatchItem(0, prompt, 0, True)])[0]
    out: list[int] = []
    for _ in range(max_tokens):
        token = int(np.argmax(logits))
        if runner.is_end_of_generation(token):
            break
        out.append(token)
        logits = runner.decode([BatchItem(0, [token], len(prompt) + len(out) - 1, True)])[0]
    runner.free_sequence(0)
    return b"".join(runner.token_bytes(t) for t in out).decode("utf-8", "replace")


def last_logits(runner: LlamaCppRunner, prompt: list[int]) -> np.ndarray:
    runner.free_sequence(0)
    logits = runner.decode([BatchItem(0, prompt, 0, True)])[0]
    runner.free_sequence(0)
    return logits


@pytest.fixture(scope="session")
def base_cache(bundled: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fp32 base model cache, filled once by a real GGUF load."""
    from hearth.finetune.model import load_base

    cache = tmp_path_factory.mktemp("finetune") / "base-cache"
    load_base(bundled, cache)
    return cache


def load_hf(bundled: Path, base_cache: Path, adapter_state: Path | None = None) -> Any:
    """The base model in transformers (from the cache), with a checkpoint's PEFT adapter."""
    from peft import PeftModel

    from hearth.finetune.model import load_base

    model = load_base(bundled, base_cache)
    if adapter_state is None:
        return model
    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        return PeftModel.from_pretrained(model, str(adapter_state)).eval()


def write_job(
    job_dir: Path,
    method: str,
    train: list[dict[str, Any]],
    valid: list[dict[str, Any]],
    base: Path,
    cache: Path,
    **hyperparameters: Any,
) -> Path:
    job_dir.mkdir(parents=True)
    (job_dir / "train.jsonl").write_text("".join(json.dumps(x) + "\n" for x in train))
    (job_dir / "valid.jsonl").write_text("".join(json.dumps(x) + "\n" for x in valid))
    spec = {
        "base_gguf": str(base),
        "method": method,
        "hyperparameters": hyperparameters,
        "seed": 1,
        "threads": 2,
        "lora": {"r": 16, "alpha": 32, "targets": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "train": "train.jsonl",
        "valid": "valid.jsonl",
        "base_cache": str(cache),
    }
    (job_dir / "spec.json").write_text(json.dumps(spec))
    return job_dir


def run_worker(
    job_dir: Path, terminate_after: Callable[[dict[str, Any]], bool] | None = None
) -> WorkerRun:
    """Run ``python -m hearth.finetune.worker job_dir`` to its end, reading events as they
    come (each validated as ``spec.parse_event`` does on the server, kept as the raw JSON);
    ``terminate_after(event)`` true -> SIGTERM right after that event."""
    events = []
    with (
        (job_dir.parent / f"{job_dir.name}.log").open("a") as log,
        subprocess.Popen(
            [sys.executable, "-m", "hearth.finetune.worker", str(job_dir)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                parse_event(line)  # every line is one of the contract's events
                events.append(json.loads(line))
                if terminate_after is not None and terminate_after(events[-1]):
                    proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    return WorkerRun(returncode, events)
