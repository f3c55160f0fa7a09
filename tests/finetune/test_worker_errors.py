"""Bad input ends the worker with one ``error`` event before any model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.finetune.conftest import run_worker, write_job


def test_a_bad_example_line_is_an_error_event(tmp_path: Path, bundled: Path) -> None:
    good = {"input_ids": [1, 2, 3], "loss_mask": [0, 1, 1]}
    job_dir = write_job(
        tmp_path / "job",
        "supervised",
        [good, good],
        [good],
        bundled,
        tmp_path / "cache",
        n_epochs=1,
    )
    with (job_dir / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"input_ids": [1, 2], "loss_mask": [0]}) + "\n")
    run = run_worker(job_dir)
    assert run.returncode == 1
    assert run.events == [
        {
            "event": "error",
            "message": "train.jsonl line 3: loss_mask and input_ids differ in length",
        }
    ]
    assert sorted(p.name for p in job_dir.iterdir()) == ["spec.json", "train.jsonl", "valid.jsonl"]
