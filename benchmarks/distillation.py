"""Distillation, figure 1: the distillation loop at full size (``examples/distillation/loop.py``).

Starts ``hearth serve`` on a fresh data dir and runs the loop: the teacher answers
``--train`` messages (stored), an eval over the stored completions keeps the good answers,
the student is fine-tuned on them, and eval runs score teacher, student before and student
after on ``--eval`` held-out items. Prints the loop's JSON figures plus wall times; the
goal is after >= 0.9 x teacher and after >= before + 0.2. Nothing here asserts.

Usage: .venv/bin/python benchmarks/distillation.py [--train 150] [--eval 60] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "distillation"))
from loop import run_loop  # noqa: E402

from tests.e2e.conftest import start_server, stop_server  # noqa: E402

API_KEY = "sk-benchmark-distillation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=150)
    parser.add_argument("--eval", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            Path(tmp) / "data", "--api-key", API_KEY, env={"HEARTH_AUDIO": "false"}
        )
        try:
            with openai.OpenAI(
                base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=600
            ) as client:
                figures = run_loop(
                    client,
                    n_train=args.train,
                    n_eval=args.eval,
                    epochs=args.epochs,
                    log=lambda m: print(m, file=sys.stderr, flush=True),
                )
        finally:
            stop_server(server)
    figures["loop_wall_s"] = round(time.monotonic() - started, 1)
    figures["cpu_count"] = os.cpu_count()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
