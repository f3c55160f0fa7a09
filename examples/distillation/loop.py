"""The distillation loop against a running Hearth, every step through the official SDK.

1. An eval for the task (``task.py``): a ``custom`` data source of ``{input, expected}``
   items and a ``string_check`` against the ground truth.
2. The teacher (the bundled model with a long expert prompt and few-shot turns) answers
   the training messages with ``store=True`` and ``metadata={"task", "expected"}``.
3. An eval over those **stored completions** grades the teacher's answers; only the ones
   that pass are exported (through ``chat.completions.list``) as a fine-tuning file of
   bare student conversations, uploaded with ``files.create``.
4. ``fine_tuning.jobs.create`` trains the student (the same bare model) on them.
5. The held-out items are scored by eval runs for the teacher, the student before and
   the student after fine-tuning (``completions`` runs, one model each).

Usage (a server must be running; ``make serve`` prints its key on first start)::

    .venv/bin/python examples/distillation/loop.py --base-url http://127.0.0.1:8000/v1 \
        --api-key sk-hearth-...

Prints the figures as JSON: each score is the fraction of held-out items answered exactly.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
import task  # noqa: E402


def _wait_run(client: openai.OpenAI, eval_id: str, run_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "failed", "canceled"):
            if run.status != "completed":
                raise RuntimeError(f"eval run {run_id} {run.status}: {run.error}")
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"eval run {run_id} still {run.status}")
        time.sleep(1)


def _score(run: Any) -> float:
    counts = run.result_counts
    return counts.passed / counts.total if counts.total else 0.0


def score_model(client: openai.OpenAI, eval_id: str, model: str, role: str,
                items: list[dict[str, str]], timeout: float = 1800) -> float:
    """Fraction of ``items`` a ``completions`` run of ``model`` answers exactly."""
    run = client.evals.runs.create(eval_id, name=f"{role}: {model}", data_source={
        "type": "completions", "model": model,
        "input_messages": {"type": "template", "template": task.input_messages(role)},
        "sampling_params": {"temperature": 0, "max_completion_tokens": task.MAX_TOKENS},
        "source": {"type": "file_content", "content": [{"item": i} for i in items]}})
    return _score(_wait_run(client, eval_id, run.id, timeout))


def teach(client: openai.OpenAI, items: list[dict[str, str]], tag: str) -> None:
    """The teacher answers every training message; each answer is stored."""
    def one(item: dict[str, str]) -> None:
        client.chat.completions.create(
            model=task.TEACHER_MODEL, messages=task.teacher_messages(item["input"]),
            temperature=0, max_completion_tokens=task.MAX_TOKENS, store=True,
            metadata={"task": task.TASK, "run": tag, "expected": item["expected"]})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, items))


def good_answers(client: openai.OpenAI, tag: str) -> tuple[set[str], float]:
    """Ids of the stored teacher answers an eval over stored completions passes, and the
    teacher's accuracy on the training messages."""
    ev = client.evals.create(
        name=f"{task.TASK} stored answers",
        data_source_config={"type": "stored_completions",
                            "metadata": {"task": task.TASK, "run": tag}},
        testing_criteria=[{**task.GRADER, "reference": "{{item.metadata.expected}}"}])
    run = client.evals.runs.create(ev.id, name="teacher answers", data_source={
        "type": "completions",
        "source": {"type": "stored_completions", "metadata": {"task": task.TASK, "run": tag}}})
    run = _wait_run(client, ev.id, run.id, 600)
    passed = {o.datasource_item["id"] for o in client.evals.runs.output_items.list(
        run.id, eval_id=ev.id, status="pass")}
    return passed, _score(run)


def export(client: openai.OpenAI, tag: str, keep: set[str]) -> tuple[bytes, int]:
    """A supervised fine-tuning file from the stored completions in ``keep``: the bare
    student prompt (the customer message alone) and the teacher's answer."""
    lines = []
    for stored in client.chat.completions.list(metadata={"task": task.TASK, "run": tag},
                                               limit=100):
        if stored.id not in keep:
            continue
        message = [m for m in client.chat.completions.messages.list(stored.id)
                   if m.role == "user"][-1].content or ""
        answer = stored.choices[0].message.content or ""
        lines.append(json.dumps({"messages": [*task.student_messages(message),
                                              {"role": "assistant", "content": answer}]}))
    return ("\n".join(lines) + "\n").encode(), len(lines)


def fine_tune(client: openai.OpenAI, data: bytes, epochs: int, lrm: float,
              log: Callable[[str], None], timeout: float = 3600) -> tuple[str, float]:
    """Train the student; its model id and the job's wall time (s)."""
    file_id = client.files.create(file=("distill.jsonl", io.BytesIO(data)),
                                  purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(
        model=task.STUDENT_MODEL, training_file=file_id, suffix="order-id", seed=task.SEED,
        method={"type": "supervised", "supervised": {"hyperparameters": {
            "n_epochs": epochs, "batch_size": 4, "learning_rate_multiplier": lrm}}})
    started = time.monotonic()
    seen: set[str] = set()
    while job.status not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"fine-tuning job {job.id} still {job.status}")
        time.sleep(2)
        job = client.fine_tuning.jobs.retrieve(job.id)
        for event in reversed(client.fine_tuning.jobs.list_events(job.id, limit=5).data):
            if event.id not in seen and event.type != "metrics":
                seen.add(event.id)
                log(f"  job: {event.message}")
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise RuntimeError(f"fine-tuning job {job.id} {job.status}: {job.error}")
    return job.fine_tuned_model, time.monotonic() - started


def run_loop(client: openai.OpenAI, *, n_train: int = task.N_TRAIN,
             n_eval: int = task.N_EVAL, epochs: int = 3, lrm: float = 1.0,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole loop; returns the figures (scores in [0, 1] on the held-out items)."""
    tag = f"loop-{int(time.time())}"
    held_out = task.items("eval")[:n_eval]
    ev = client.evals.create(
        name=f"{task.TASK} held-out", testing_criteria=[task.GRADER],
        data_source_config={"type": "custom", "item_schema": task.ITEM_SCHEMA,
                            "include_sample_schema": True})
    log(f"eval {ev.id}: {n_eval} held-out items")
    started = time.monotonic()
    teach(client, task.items("train", n_train), tag)
    log(f"teacher answered {n_train} training messages (stored) in "
        f"{time.monotonic() - started:.0f} s")
    keep, teacher_train = good_answers(client, tag)
    data, examples = export(client, tag, keep)
    log(f"kept {examples} of {n_train} stored answers (teacher accuracy {teacher_train:.2f})")
    teacher = score_model(client, ev.id, task.TEACHER_MODEL, "teacher", held_out)
    before = score_model(client, ev.id, task.STUDENT_MODEL, "student", held_out)
    log(f"held-out scores: teacher {teacher:.2f}, student before {before:.2f}")
    model, train_s = fine_tune(client, data, epochs, lrm, log)
    after = score_model(client, ev.id, model, "student", held_out)
    log(f"student after fine-tuning ({model}): {after:.2f}")
    return {"teacher": teacher, "student_before": before, "student_after": after,
            "after_over_teacher": round(after / teacher, 3) if teacher else None,
            "after_minus_before": round(after - before, 3),
            "held_out_items": n_eval, "training_messages": n_train,
            "training_examples_kept": examples, "teacher_train_accuracy": teacher_train,
            "epochs": epochs, "fine_tuning_wall_s": round(train_s, 1),
            "fine_tuned_model": model, "eval_id": ev.id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--train", type=int, default=task.N_TRAIN)
    parser.add_argument("--eval", type=int, default=task.N_EVAL)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lrm", type=float, default=1.0)
    args = parser.parse_args()
    with openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0,
                       timeout=600) as client:
        figures = run_loop(client, n_train=args.train, n_eval=args.eval, epochs=args.epochs,
                           lrm=args.lrm, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
