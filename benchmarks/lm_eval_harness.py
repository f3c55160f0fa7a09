"""Does an evaluation harness get the right numbers from Hearth's legacy Completions API?

Runs lm-evaluation-harness (``lm_eval``, its ``local-completions`` model) against a real
``hearth serve`` serving the bundled base model ``gemma-3-270m``, on two small tasks
whose data is written here (the harness's own tasks fetch datasets from the Hugging Face
Hub, which this script never contacts):

  1. ``hearth_mc``: multiple choice, scored by loglikelihood: the harness sends
     ``echo: true, logprobs: 1, max_tokens: 1`` and sums the prompt tokens' logprobs of
     each answer (``acc``, ``acc_norm``).
  2. ``hearth_gen``: short answers, ``generate_until`` a newline, ``exact_match``; run
     twice: with token-id prompts, and with text prompts and no tokenizer at all
     (``tokenizer_backend=None``), where Hearth adds Gemma's BOS itself.

Loglikelihoods need a tokenizer on the harness's side (it splits context from answer by
token count). None is downloaded: the Hugging Face tokenizer is rebuilt from the GGUF
by ``transformers`` (``gguf_file=``, ~30 s once; cached in the temp dir) and the harness
sends token ids (``add_bos_token=True``: Gemma expects BOS first).

Then the same loglikelihoods are computed directly with llama.cpp (Hearth's runner on
the weights the server served, one forward pass per request, no server) and compared
with what the harness got: accuracy from both, and the largest difference of any
answer's loglikelihood. With ``--weight-format f16`` (Hearth's default) they agree to
~0.01 however the harness's requests were batched; with ``original`` (Q4_K_M) or
``q8_0``, llama.cpp's quantized kernels make them depend on the batch (docs/completions.md).

Prints one JSON document on stdout (progress on stderr); nothing asserts on the figures.
Needs ``lm_eval`` (the ``bench`` extra: ``pip install -e '.[bench]'``, ~500 MB) and the
``finetune`` extra (``transformers``, ``gguf``).

Usage: .venv/bin/python benchmarks/lm_eval_harness.py [--concurrency 2] [--weight-format f16]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import API_KEY, free_port, hearth_command, server  # noqa: E402

from hearth.engine.llamacpp import LlamaCppRunner, RunnerConfig  # noqa: E402
from hearth.engine.runner import BatchItem  # noqa: E402
from hearth.engine.weights import BUNDLED_BASE_MODEL, bundled_base_model, converted  # noqa: E402

# (question, choices, index of the right one): facts a small base model may know
MULTIPLE_CHOICE = [
    ("The capital of France is", ["Paris", "London", "Berlin", "Madrid"], 0),
    ("The capital of Japan is", ["Seoul", "Tokyo", "Beijing", "Bangkok"], 1),
    ("The capital of Italy is", ["Vienna", "Athens", "Rome", "Lisbon"], 2),
    ("The capital of Germany is", ["Munich", "Hamburg", "Frankfurt", "Berlin"], 3),
    ("The color of the clear daytime sky is", ["blue", "green", "red", "black"], 0),
    ("The color of fresh grass is", ["purple", "green", "orange", "white"], 1),
    ("Snow is usually the color", ["black", "red", "white", "blue"], 2),
    ("A baby cat is called a", ["puppy", "calf", "foal", "kitten"], 3),
    ("A baby dog is called a", ["puppy", "kitten", "chick", "lamb"], 0),
    ("The opposite of hot is", ["warm", "cold", "big", "fast"], 1),
    ("The opposite of up is", ["left", "right", "down", "over"], 2),
    ("The opposite of day is", ["morning", "noon", "sun", "night"], 3),
    ("Two plus two equals", ["four", "five", "three", "six"], 0),
    ("The number of days in a week is", ["five", "seven", "ten", "twelve"], 1),
    ("Water freezes at zero degrees", ["Fahrenheit", "Kelvin", "Celsius", "Rankine"], 2),
    ("The largest planet in the solar system is", ["Mars", "Venus", "Earth", "Jupiter"], 3),
    ("The Sun rises in the", ["east", "west", "north", "south"], 0),
    ("Bees make", ["milk", "honey", "silk", "wool"], 1),
    ("The animal known as the king of the jungle is the", ["mouse", "cow", "lion", "fish"], 2),
    ("Shakespeare wrote the play Romeo and", ["Max", "Tom", "Anna", "Juliet"], 3),
    ("The first month of the year is", ["January", "March", "June", "October"], 0),
    ("A triangle has", ["two sides", "three sides", "five sides", "six sides"], 1),
    ("The chemical symbol for water is", ["CO2", "O2", "H2O", "NaCl"], 2),
    ("People read books in a", ["garage", "kitchen", "swamp", "library"], 3),
]
SHOTS = "Q: What is the capital of Spain?\nA: Madrid\n\nQ: What color is a banana?\nA: Yellow\n\n"
GENERATION = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Italy?", "Rome"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of England?", "London"),
    ("What color is the sky on a clear day?", "Blue"),
    ("What color is snow?", "White"),
    ("What color is grass?", "Green"),
    ("How many legs does a dog have?", "Four"),
    ("What do bees make?", "Honey"),
    ("What is the opposite of hot?", "Cold"),
    ("What is the largest planet in the solar system?", "Jupiter"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
]

MC_TASK = """\
task: hearth_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: choices
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
  - metric: acc_norm
"""
GEN_TASK = """\
task: hearth_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{shots}Q: {{{{question}}}}\\nA:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
metric_list:
  - metric: exact_match
    ignore_case: true
    ignore_punctuation: true
    regexes_to_ignore: [" "]
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_tasks(folder: Path) -> None:
    """The two tasks' YAML files and their JSONL data in ``folder``."""
    mc = folder / "mc.jsonl"
    mc.write_text(
        "".join(
            json.dumps({"question": q, "choices": c, "label": i}) + "\n"
            for q, c, i in MULTIPLE_CHOICE
        )
    )
    gen = folder / "gen.jsonl"
    gen.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in GENERATION))
    (folder / "hearth_mc.yaml").write_text(MC_TASK.format(data=mc))
    shots = SHOTS.replace("\n", "\\n")
    (folder / "hearth_gen.yaml").write_text(GEN_TASK.format(data=gen, shots=shots))


def hf_tokenizer(gguf: Path, folder: Path) -> Path:
    """Gemma's Hugging Face tokenizer rebuilt from the GGUF (offline), saved once."""
    if not (folder / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        log("rebuilding the Hugging Face tokenizer from the GGUF (once) ...")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer.save_pretrained(str(folder))
    return folder


def evaluate(
    base_url: str, tasks: list[str], task_dir: Path, model_args: dict[str, Any]
) -> dict[str, Any]:
    """``lm_eval.simple_evaluate`` with the ``local-completions`` model; its results
    and per-sample log."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    args = {
        "model": BUNDLED_BASE_MODEL,
        "base_url": f"{base_url}/v1/completions",
        "max_retries": 1,
        "max_length": 2048,
        **model_args,
    }
    out: dict[str, Any] = lm_eval.simple_evaluate(
        model="local-completions",
        model_args=args,
        tasks=tasks,
        task_manager=TaskManager(include_path=str(task_dir)),
        log_samples=True,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    return out


def direct_loglikelihoods(gguf: Path) -> list[list[float]]:
    """Every answer's loglikelihood given its question, straight from llama.cpp: BOS +
    question + " " + answer in one forward pass, answer tokens split off as the harness
    splits them (the whole text tokenized, then the question's tokens counted)."""
    runner = LlamaCppRunner(
        str(gguf),
        BUNDLED_BASE_MODEL,
        "direct",
        RunnerConfig(context_length=512, max_sequences=1, kv_cells=512, batch_tokens=512),
    )
    bos = runner.tokenize("<bos>", special=True)
    out = []
    try:
        for question, choices, _ in MULTIPLE_CHOICE:
            context = bos + runner.tokenize(question, special=False)
            row = []
            for choice in choices:
                whole = bos + runner.tokenize(f"{question} {choice}", special=False)
                logits = runner.decode([BatchItem(0, whole, 0, True, all_logits=True)])
                runner.free_sequence(0)
                total = 0.0
                for k in range(len(context), len(whole)):
                    z = logits[k - 1].astype(np.float64)
                    peak = z.max()
                    total += z[whole[k]] - peak - np.log(np.exp(z - peak).sum())
                row.append(float(total))
            out.append(row)
    finally:
        runner.close()
    return out


def harness_loglikelihoods(samples: list[dict[str, Any]]) -> list[list[float]]:
    """Each item's answer loglikelihoods as the harness received them, in data order."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    return [[float(r[0][0]) for r in s["resps"]] for s in ordered]


def accuracy(lls: list[list[float]], normalize: bool) -> float:
    """``acc`` (argmax loglikelihood) or ``acc_norm`` (per character of the answer, as
    the harness normalizes) over ``MULTIPLE_CHOICE``."""
    right = 0
    for row, (_, choices, label) in zip(lls, MULTIPLE_CHOICE, strict=True):
        scores = [ll / len(c) if normalize else ll for ll, c in zip(row, choices, strict=True)]
        right += int(np.argmax(scores)) == label
    return right / len(MULTIPLE_CHOICE)


def run(weight_format: str, concurrency: int, work: Path) -> dict[str, Any]:
    """Everything in ``work`` (a fresh data dir, the tasks); the report."""
    data_dir = work / "data"
    # assembled and converted here as the server does it: the server reuses both files
    source = bundled_base_model(data_dir / "models")
    served = converted(source.path, weight_format, data_dir / "models", source.digest)
    gguf = source.path
    cached = Path(tempfile.gettempdir()) / f"hearth-{BUNDLED_BASE_MODEL}-{gguf.parent.name}-hf"
    tokenizer = hf_tokenizer(gguf, cached)
    write_tasks(work)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(HEARTH_LOG_LEVEL="warning", HEARTH_WEIGHT_FORMAT=weight_format)
    timings: dict[str, float] = {}
    common = {"num_concurrent": concurrency}
    with server(hearth_command(port, data_dir), env, port, work / "hearth.log", "/v1/models") as up:
        timings["server_ready_s"] = up.startup_s
        start = time.perf_counter()
        tokenized = evaluate(
            up.base,
            ["hearth_mc", "hearth_gen"],
            work,
            {**common, "tokenizer": str(tokenizer), "add_bos_token": True},
        )
        timings["harness_tokenized_s"] = time.perf_counter() - start
        start = time.perf_counter()
        untokenized = evaluate(
            up.base,
            ["hearth_gen"],
            work,
            {
                **common,
                "tokenizer_backend": None,
                "tokenized_requests": False,
                "eos_string": "<eos>",
            },
        )
        timings["harness_text_prompts_s"] = time.perf_counter() - start
    log("scoring the same answers directly with llama.cpp ...")
    start = time.perf_counter()
    direct = direct_loglikelihoods(served)
    timings["direct_s"] = time.perf_counter() - start
    harness = harness_loglikelihoods(tokenized["samples"]["hearth_mc"])
    pairs = zip(harness, direct, strict=True)
    diffs = [abs(a - b) for ra, rb in pairs for a, b in zip(ra, rb, strict=True)]
    mc = tokenized["results"]["hearth_mc"]
    return {
        "model": BUNDLED_BASE_MODEL,
        "lm_eval": importlib.metadata.version("lm_eval"),
        "weight_format": weight_format,
        "concurrency": concurrency,
        "hearth_mc": {
            "items": len(MULTIPLE_CHOICE),
            "requests": sum(len(c) for _, c, _ in MULTIPLE_CHOICE),
            "harness_acc": mc["acc,none"],
            "harness_acc_norm": mc["acc_norm,none"],
            "direct_acc": accuracy(direct, normalize=False),
            "direct_acc_norm": accuracy(direct, normalize=True),
            "max_abs_loglikelihood_diff": max(diffs),
            "mean_abs_loglikelihood_diff": sum(diffs) / len(diffs),
        },
        "hearth_gen": {
            "items": len(GENERATION),
            "harness_exact_match_token_ids": tokenized["results"]["hearth_gen"]["exact_match,none"],
            "harness_exact_match_text_prompts": untokenized["results"]["hearth_gen"][
                "exact_match,none"
            ],
            "answers": [
                s["filtered_resps"][0]
                for s in sorted(untokenized["samples"]["hearth_gen"], key=lambda s: s["doc_id"])
            ],
        },
        "timings": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=2, help="harness requests at once")
    parser.add_argument(
        "--weight-format",
        default="f16",
        choices=["original", "f16", "q8_0", "q4_0"],
        help="HEARTH_WEIGHT_FORMAT of the server (and of the direct scoring)",
    )
    args = parser.parse_args()
    # nothing reaches the Hub: the tokenizer is local, the data is local JSON
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OPENAI_API_KEY=API_KEY)
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hearth-lm-eval-") as tmp:
        report = run(args.weight_format, args.concurrency, Path(tmp))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
