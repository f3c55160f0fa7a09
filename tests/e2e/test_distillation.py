"""The distillation loop end to end (``examples/distillation/loop.py``) against a real
``hearth serve`` with the bundled model: a teacher's stored completions, an eval over them,
an export to a fine-tuning file, a LoRA job, and the held-out eval before and after.
Smaller than the example's defaults; the full-size figures are in the closing note and
``benchmarks/README.md``."""

from __future__ import annotations

import sys
from pathlib import Path

import openai
import pytest

from tests.conftest import API_KEY
from tests.e2e.conftest import start_server, stop_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "distillation"))
from loop import run_loop  # noqa: E402

pytestmark = pytest.mark.e2e


def test_fine_tuned_student_closes_the_gap(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--api-key", API_KEY, env={"HEARTH_AUDIO": "false"})
    try:
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=600
        ) as client:
            figures = run_loop(client, n_train=24, n_eval=20, epochs=3, log=print)
            # the student learned the task from the teacher's stored answers
            assert figures["student_after"] >= figures["student_before"] + 0.2, figures
            assert figures["student_after"] >= 0.8 * figures["teacher"], figures
            assert 0 < figures["training_examples_kept"] <= 24
            models = {m.id for m in client.models.list()}
            assert figures["fine_tuned_model"] in models
    finally:
        stop_server(server)
