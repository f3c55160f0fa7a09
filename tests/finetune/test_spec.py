"""The server <-> worker contract (``hearth.finetune.spec``): the job folder's layout as
the worker writes it, spec.json both ways, and the events' JSON lines."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from pydantic import ValidationError

from hearth.finetune import checkpoint, spec


def test_the_layout_is_the_one_the_worker_writes(tmp_path: Path) -> None:
    assert spec.checkpoint_dir(3) == checkpoint.name(3)
    progress = checkpoint.Progress(
        epoch=2,
        step=8,
        trained_tokens=90,
        metrics={"step": 8, "train_loss": 0.5, "full_valid_loss": 0.7},
    )
    (tmp_path / "ckpt-2" / spec.STATE).mkdir(parents=True)
    spec.progress_path(tmp_path, 2).write_text(json.dumps(asdict(progress)))
    assert checkpoint.read_progress(tmp_path, 2) == progress  # where the worker reads it
    read = spec.read_progress(tmp_path, 2)
    assert (read.epoch, read.step, read.trained_tokens) == (2, 8, 90)
    assert read.metrics.model_dump(exclude_none=True) == progress.metrics


def test_spec_json_round_trips(tmp_path: Path) -> None:
    job = spec.JobSpec(
        base_gguf=Path("/m.gguf"),
        method="dpo",
        seed=4,
        valid=spec.VALID,
        hyperparameters=spec.Hyperparameters(n_epochs=2, beta=0.2),
    )
    spec.write_spec(tmp_path, job)
    assert spec.read_spec(tmp_path) == job
    assert sorted(p.name for p in tmp_path.iterdir()) == [spec.SPEC]


def test_events_are_json_lines_without_absent_fields() -> None:
    step = spec.StepEvent(step=3, epoch=1, train_loss=0.25, tokens=40)
    line = spec.event_line(step)
    assert line.endswith("\n") and json.loads(line) == {
        "event": "step",
        "step": 3,
        "epoch": 1,
        "train_loss": 0.25,
        "tokens": 40,
    }
    assert spec.parse_event(line) == step
    done = spec.parse_event(
        '{"event": "done", "trained_tokens": 9, "model": "final/model.gguf",'
        ' "adapter": "final/adapter.gguf"}'
    )
    assert isinstance(done, spec.DoneEvent) and done.trained_tokens == 9


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"event": "finished"}',
        '{"event": "error"}',
        '{"event": "error", "message": "x", "extra": 1}',
        '{"event": "checkpoint", "epoch": 1, "step": 2, "model": "m", "adapter": "a", '
        '"metrics": {"step": 2, "train_loss": 1.0, "loss": 3}}',
    ],
)
def test_anything_else_is_refused(line: str) -> None:
    with pytest.raises(ValidationError):
        spec.parse_event(line)
