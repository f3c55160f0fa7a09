"""A real DPO fine-tune through the worker: it completes and the tuned model prefers the
chosen replies over the rejected ones by more than the base model does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hearth.engine.llamacpp import LlamaCppRunner
from hearth.finetune import data, dpo
from tests.finetune.conftest import (
    QUESTIONS,
    REPLY,
    WorkerRun,
    load_hf,
    prompt_ids,
    reply_ids,
    run_worker,
    write_job,
)

REJECTED = "I am a helpful AI assistant."


@pytest.fixture(scope="module")
def job(
    llama: LlamaCppRunner, bundled: Path, base_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, WorkerRun]:
    pairs = [
        {
            "prompt_ids": prompt_ids(llama, q),
            "chosen_ids": reply_ids(llama, REPLY),
            "rejected_ids": reply_ids(llama, REJECTED),
        }
        for q in QUESTIONS
    ]
    job_dir = write_job(
        tmp_path_factory.mktemp("dpo") / "job",
        "dpo",
        pairs[:4],
        pairs[8:],
        bundled,
        base_cache,
        n_epochs=1,
        batch_size=4,
        learning_rate_multiplier=1,
        beta=0.1,
    )
    return job_dir, run_worker(job_dir)


def test_a_dpo_job_completes(job: tuple[Path, WorkerRun]) -> None:
    job_dir, run = job
    assert run.returncode == 0
    assert run.kinds() == ["started", "step", "checkpoint", "done"]
    [step] = run.of("step")
    # the adapter starts at zero, so policy == reference and the loss is log 2
    assert step["train_loss"] == pytest.approx(0.6931, abs=1e-3)
    assert step["full_valid_loss"] < 0.69  # after one step, on held-out pairs
    assert "train_mean_token_accuracy" not in step  # a token metric; DPO has none
    assert (job_dir / "final" / "model.gguf").is_file()


def test_the_tuned_model_prefers_chosen_replies_more(
    job: tuple[Path, WorkerRun], bundled: Path, base_cache: Path
) -> None:
    """Held-out prompts: log p(chosen) - log p(rejected), tuned vs base (adapter off)."""
    job_dir, _ = job
    batch = data.collate(data.load(job_dir / "valid.jsonl", "dpo"))
    model = load_hf(bundled, base_cache, job_dir / "ckpt-1" / "state")
    with torch.no_grad():
        tuned = dpo.sequence_logprobs(model, batch)
        with model.disable_adapter():
            base = dpo.sequence_logprobs(model, batch)
    half = len(tuned) // 2
    tuned_margin, base_margin = tuned[:half] - tuned[half:], base[:half] - base[half:]
    assert bool((tuned_margin > base_margin + 1.0).all())
